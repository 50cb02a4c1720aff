-- CreateTable
CREATE TABLE "Host" (
    "id" SERIAL NOT NULL,
    "name" TEXT NOT NULL,
    "state" TEXT NOT NULL DEFAULT 'offline',
    "lastSeenAt" TIMESTAMP(3),
    "registeredAt" TIMESTAMP(3) NOT NULL,
    "generation" INTEGER NOT NULL DEFAULT 0,
    "session" TEXT NOT NULL DEFAULT '',
    "intervalMs" INTEGER NOT NULL DEFAULT 10000,
    "facts" TEXT NOT NULL DEFAULT '{}',
    "allocVersion" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "Host_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Device" (
    "id" SERIAL NOT NULL,
    "hostId" INTEGER NOT NULL,
    "address" TEXT NOT NULL,
    "shortAddress" TEXT NOT NULL,
    "vendor" TEXT NOT NULL,
    "device" TEXT NOT NULL,
    "class" TEXT NOT NULL,
    "iommuGroup" INTEGER,
    "report" TEXT NOT NULL,
    "missing" BOOLEAN NOT NULL DEFAULT false,

    CONSTRAINT "Device_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Vm" (
    "id" SERIAL NOT NULL,
    "name" TEXT NOT NULL,
    "state" TEXT NOT NULL,
    "hostId" INTEGER,
    "template" TEXT NOT NULL,
    "devices" TEXT NOT NULL DEFAULT '[]',
    "nics" TEXT NOT NULL DEFAULT '[]',
    "pendingReasons" TEXT NOT NULL DEFAULT '[]',
    "lastError" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Vm_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Allocation" (
    "id" SERIAL NOT NULL,
    "deviceId" INTEGER NOT NULL,
    "vmId" INTEGER NOT NULL,
    "request" INTEGER,
    "companion" BOOLEAN NOT NULL DEFAULT false,

    CONSTRAINT "Allocation_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Network" (
    "id" SERIAL NOT NULL,
    "name" TEXT NOT NULL,
    "vlanId" INTEGER,
    "ipFirst" TEXT,
    "ipSize" INTEGER,
    "ip6Prefix" TEXT,
    "macPrefix" TEXT NOT NULL DEFAULT '02:00',
    "createdAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Network_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Lease" (
    "id" SERIAL NOT NULL,
    "networkId" INTEGER NOT NULL,
    "vmId" INTEGER NOT NULL,
    "nicIndex" INTEGER NOT NULL,
    "request" INTEGER NOT NULL,
    "mac" TEXT NOT NULL,
    "ip" TEXT,
    "ip6" TEXT,
    "deviceAddress" TEXT NOT NULL,

    CONSTRAINT "Lease_pkey" PRIMARY KEY ("id")
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

-- AddForeignKey
ALTER TABLE "Device" ADD CONSTRAINT "Device_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "Host"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Vm" ADD CONSTRAINT "Vm_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "Host"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Allocation" ADD CONSTRAINT "Allocation_deviceId_fkey" FOREIGN KEY ("deviceId") REFERENCES "Device"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Allocation" ADD CONSTRAINT "Allocation_vmId_fkey" FOREIGN KEY ("vmId") REFERENCES "Vm"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Lease" ADD CONSTRAINT "Lease_networkId_fkey" FOREIGN KEY ("networkId") REFERENCES "Network"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Lease" ADD CONSTRAINT "Lease_vmId_fkey" FOREIGN KEY ("vmId") REFERENCES "Vm"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

