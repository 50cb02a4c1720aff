/**
 * Shared vocabulary of pcisched: the device/host report types, typed errors,
 * the logger factory and the clock. Every other folder imports from here.
 */
export * from './device.js';
export * from './errors.js';
export * from './logger.js';
export * from './clock.js';
