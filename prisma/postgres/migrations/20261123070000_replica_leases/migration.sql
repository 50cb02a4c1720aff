-- AlterTable
ALTER TABLE "Host" ADD COLUMN     "replicaId" TEXT;

-- CreateTable
CREATE TABLE "Replica" (
    "id" TEXT NOT NULL,
    "startedAt" TIMESTAMP(3) NOT NULL,
    "heartbeatAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Replica_pkey" PRIMARY KEY ("id")
);

