-- CreateTable
CREATE TABLE "Host" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "name" TEXT NOT NULL,
    "state" TEXT NOT NULL DEFAULT 'offline',
    "lastSeenAt" DATETIME,
    "registeredAt" DATETIME NOT NULL,
    "generation" INTEGER NOT NULL DEFAULT 0,
    "session" TEXT NOT NULL DEFAULT '',
    "intervalMs" INTEGER NOT NULL DEFAULT 10000,
    "facts" TEXT NOT NULL DEFAULT '{}',
    "allocVersion" INTEGER NOT NULL DEFAULT 0
);

-- CreateTable
CREATE TABLE "Device" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "hostId" INTEGER NOT NULL,
    "address" TEXT NOT NULL,
    "shortAddress" TEXT NOT NULL,
    "vendor" TEXT NOT NULL,
    "device" TEXT NOT NULL,
    "class" TEXT NOT NULL,
    "iommuGroup" INTEGER,
    "report" TEXT NOT NULL,
    "missing" BOOLEAN NOT NULL DEFAULT false,
    CONSTRAINT "Device_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "Host" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "Vm" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "name" TEXT NOT NULL,
    "state" TEXT NOT NULL,
    "hostId" INTEGER,
    "template" TEXT NOT NULL,
    "devices" TEXT NOT NULL DEFAULT '[]',
    "pendingReasons" TEXT NOT NULL DEFAULT '[]',
    "createdAt" DATETIME NOT NULL,
    "updatedAt" DATETIME NOT NULL,
    CONSTRAINT "Vm_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "Host" ("id") ON DELETE SET NULL ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "Allocation" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "deviceId" INTEGER NOT NULL,
    "vmId" INTEGER NOT NULL,
    "request" INTEGER,
    "companion" BOOLEAN NOT NULL DEFAULT false,
    CONSTRAINT "Allocation_deviceId_fkey" FOREIGN KEY ("deviceId") REFERENCES "Device" ("id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "Allocation_vmId_fkey" FOREIGN KEY ("vmId") REFERENCES "Vm" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);

-- CreateIndex
CREATE UNIQUE INDEX "Host_name_key" ON "Host"("name");

-- CreateIndex
CREATE INDEX "Device_vendor_device_class_idx" ON "Device"("vendor", "device", "class");

-- CreateIndex
CREATE UNIQUE INDEX "Device_hostId_address_key" ON "Device"("hostId", "address");

-- CreateIndex
CREATE INDEX "Vm_state_id_idx" ON "Vm"("state", "id");

-- CreateIndex
CREATE UNIQUE INDEX "Allocation_deviceId_key" ON "Allocation"("deviceId");

-- CreateIndex
CREATE INDEX "Allocation_vmId_idx" ON "Allocation"("vmId");
