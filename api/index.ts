/**
 * The REST API (express 5) over a Scheduler: `/api/v1/hosts`, `/api/v1/vms`,
 * `/api/v1/networks`, and `/metrics` when the server passes its metrics.
 * Errors are RFC 9457 application/problem+json.
 */
export { createApiApp, vmJson, type ApiOptions } from './app.js';
export { problemFor, type Problem } from './problem.js';
