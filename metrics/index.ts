/**
 * Prometheus metrics (prom-client): group-commit batches, host liveness and
 * pending VMs of one scheduler process, plus its CPU, memory, event loop and
 * GC. The server serves them at GET /metrics.
 */
export { createSchedulerMetrics, type SchedulerMetrics } from './scheduler-metrics.js';
