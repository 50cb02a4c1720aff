/**
 * A small REST client for the CLI. Problems (RFC 9457) become CliExit with
 * the problem's detail; 404 maps to the not-found exit code.
 */
import { CliExit, ExitCode } from './exit-codes.js';

export const DEFAULT_API = 'http://127.0.0.1:7470';

export class ApiClient {
  constructor(readonly baseUrl: string) {}

  async request<T>(method: string, path: string, body?: { type: string; data: string }): Promise<T> {
    const text = await this.requestText(method, path, body);
    return (text ? JSON.parse(text) : null) as T;
  }

  async requestText(method: string, path: string, body?: { type: string; data: string }): Promise<string> {
    const url = new URL(`/api/v1${path}`, this.baseUrl);
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: body ? { 'content-type': body.type, accept: 'application/json' } : { accept: 'application/json' },
        body: body?.data,
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new CliExit(ExitCode.error, `cannot reach the pcisched API at ${this.baseUrl}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
    }
    const text = await res.text();
    if (!res.ok) {
      let detail = text;
      try {
        const problem = JSON.parse(text) as { detail?: string; title?: string };
        detail = problem.detail ?? problem.title ?? text;
      } catch {
        // not JSON: show the body as is
      }
      throw new CliExit(res.status === 404 ? ExitCode.notFound : ExitCode.error, detail || `HTTP ${res.status}`, res.status);
    }
    return text;
  }
}
