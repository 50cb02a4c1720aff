/** A clock moved by hand, for tests of anything time decides (leases, liveness). */
import type { Clock } from '../../common/index.js';

export class HandClock implements Clock {
  private t: number;

  constructor(start = '2026-11-23T07:00:00Z') {
    this.t = Date.parse(start);
  }

  now(): Date {
    return new Date(this.t);
  }

  advance(ms: number): void {
    this.t += ms;
  }
}
