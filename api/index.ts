/**
 * The REST API (express 5) over a Scheduler: `/api/v1/hosts`, `/api/v1/vms`.
 * Errors are RFC 9457 application/problem+json.
 */
export { createApiApp, vmJson } from './app.js';
export { problemFor, type Problem } from './problem.js';
