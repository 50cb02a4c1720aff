-- CreateTable
CREATE TABLE "Network" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "name" TEXT NOT NULL,
    "vlanId" INTEGER,
    "ipFirst" TEXT,
    "ipSize" INTEGER,
    "ip6Prefix" TEXT,
    "macPrefix" TEXT NOT NULL DEFAULT '02:00',
    "createdAt" DATETIME NOT NULL
);

-- CreateTable
CREATE TABLE "Lease" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "networkId" INTEGER NOT NULL,
    "vmId" INTEGER NOT NULL,
    "nicIndex" INTEGER NOT NULL,
    "request" INTEGER NOT NULL,
    "mac" TEXT NOT NULL,
    "ip" TEXT,
    "ip6" TEXT,
    "deviceAddress" TEXT NOT NULL,
    CONSTRAINT "Lease_networkId_fkey" FOREIGN KEY ("networkId") REFERENCES "Network" ("id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "Lease_vmId_fkey" FOREIGN KEY ("vmId") REFERENCES "Vm" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);

-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_Vm" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "name" TEXT NOT NULL,
    "state" TEXT NOT NULL,
    "hostId" INTEGER,
    "template" TEXT NOT NULL,
    "devices" TEXT NOT NULL DEFAULT '[]',
    "nics" TEXT NOT NULL DEFAULT '[]',
    "pendingReasons" TEXT NOT NULL DEFAULT '[]',
    "lastError" TEXT,
    "createdAt" DATETIME NOT NULL,
    "updatedAt" DATETIME NOT NULL,
    CONSTRAINT "Vm_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "Host" ("id") ON DELETE SET NULL ON UPDATE CASCADE
);
INSERT INTO "new_Vm" ("createdAt", "devices", "hostId", "id", "name", "pendingReasons", "state", "template", "updatedAt") SELECT "createdAt", "devices", "hostId", "id", "name", "pendingReasons", "state", "template", "updatedAt" FROM "Vm";
DROP TABLE "Vm";
ALTER TABLE "new_Vm" RENAME TO "Vm";
CREATE INDEX "Vm_state_id_idx" ON "Vm"("state", "id");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;

-- CreateIndex
CREATE UNIQUE INDEX "Network_name_key" ON "Network"("name");

-- CreateIndex
CREATE UNIQUE INDEX "Lease_mac_key" ON "Lease"("mac");

-- CreateIndex
CREATE UNIQUE INDEX "Lease_ip_key" ON "Lease"("ip");

-- CreateIndex
CREATE UNIQUE INDEX "Lease_ip6_key" ON "Lease"("ip6");

-- CreateIndex
CREATE INDEX "Lease_networkId_idx" ON "Lease"("networkId");

-- CreateIndex
CREATE UNIQUE INDEX "Lease_vmId_nicIndex_key" ON "Lease"("vmId", "nicIndex");
