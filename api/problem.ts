/**
 * RFC 9457 problem details: the one place where errors become HTTP statuses.
 */
import { STATUS_CODES } from 'node:http';
import type { ErrorRequestHandler, Response } from 'express';
import { PcischedError, ValidationError, NotFoundError, type Logger } from '../common/index.js';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  [extension: string]: unknown;
}

const STATUS: Record<string, { status: number; title: string }> = {
  invalid_argument: { status: 400, title: 'Bad Request' },
  not_found: { status: 404, title: 'Not Found' },
  conflict: { status: 409, title: 'Conflict' },
  unavailable: { status: 503, title: 'Service Unavailable' },
  config: { status: 500, title: 'Internal Server Error' },
  internal: { status: 500, title: 'Internal Server Error' },
};

export function sendProblem(res: Response, problem: Problem): void {
  res.status(problem.status).type('application/problem+json').send(JSON.stringify(problem));
}

export function problemFor(err: unknown, instance?: string): Problem {
  if (err instanceof PcischedError) {
    const s = STATUS[err.code] ?? STATUS.internal!;
    const problem: Problem = { type: `urn:pcisched:problem:${err.code}`, title: s.title, status: s.status, detail: err.message, instance };
    if (err instanceof ValidationError) Object.assign(problem, { reason: err.reason, ...err.location });
    if (err instanceof NotFoundError) Object.assign(problem, { kind: err.kind, id: err.id });
    return problem;
  }
  // body-parser errors carry a status (400, 413, 415) and an expose flag.
  const e = err as BodyParserError;
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) {
    return { type: 'urn:pcisched:problem:invalid_argument', title: STATUS_CODES[e.status] ?? 'Bad Request', status: e.status, detail: bodyErrorDetail(e), instance };
  }
  return { type: 'urn:pcisched:problem:internal', title: 'Internal Server Error', status: 500, detail: 'internal error', instance };
}

interface BodyParserError {
  status?: number;
  expose?: boolean;
  message?: string;
  type?: string;
  body?: unknown;
}

function bodyErrorDetail(e: BodyParserError): string {
  if (!e.expose || !e.message) return 'malformed request';
  // The JSON parser takes only an object or a list at the top, and says so
  // as if the JSON were broken (`"null" is not valid JSON`).
  if (e.type === 'entity.parse.failed' && typeof e.body === 'string' && /^\s*[^\s{[]/.test(e.body)) return 'the body must be a JSON object';
  return e.message;
}

export function problemHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const problem = problemFor(err, req.originalUrl);
    if (problem.status >= 500) logger.error({ err, url: req.originalUrl }, 'request failed');
    sendProblem(res, problem);
  };
}
