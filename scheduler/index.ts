/**
 * The scheduler: stores probe reports, places VMs' PCI requests on hosts and
 * records allocations. Public surface for the server, the API and tests.
 */
export { Scheduler, type SchedulerOptions, type SchedulerStats } from './scheduler.js';
export type { SchedulerObserver, BatchEvent, SyncEvent } from './observer.js';
export { createProbeService } from './probe-service.js';
export { openSqliteDatabase, openPostgresDatabase, type Db, type OpenedDatabase } from './db/index.js';
/** The batches' SQL path, for the benchmark's commit floor. */
export { directSql, Prisma } from './db/index.js';
export { VM_STATES, type VmRecord, type VmDevice, type VmState, type VmListFilter, type PendingReason } from './vm-store.js';
export type { HostView, HostDeviceView } from './cluster.js';
export { HostHeldError } from './host-store.js';
export type { VmSpec, PciRequest, PlacementPolicy, MatchAttribute, CompiledVmSpec } from './spec.js';
export { parseTemplate, parseJsonSpec, compileSpec } from './template/index.js';
export type { NetworkView, NicLease } from './network-store.js';
