-- AlterTable
ALTER TABLE "Host" ADD COLUMN "replicaId" TEXT;

-- CreateTable
CREATE TABLE "Replica" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "startedAt" DATETIME NOT NULL,
    "heartbeatAt" DATETIME NOT NULL
);

