/**
 * A minimal HTTP/1.1 keep-alive client for the `rest` load generator: one
 * socket, one request at a time, Content-Length bodies only (what the
 * pcisched server sends).
 *
 * Why not node:http: its client spent ~0.65 ms of CPU per request here, on
 * a 2-vCPU machine the server shares with the clients; the load generator
 * took CPU from the server under test. Writing the request bytes and
 * reading one Content-Length body costs a fraction of that, as wrk-style
 * load generators do.
 */
import net from 'node:net';

export interface Reply {
  status: number;
  body: string;
}

const HEADER_END = Buffer.from('\r\n\r\n');

export class KeepAliveClient {
  private socket: net.Socket | null = null;
  private buffer: Buffer = Buffer.alloc(0);
  private waiting: { resolve: (r: Reply) => void; reject: (e: Error) => void } | null = null;

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {}

  request(method: string, path: string, body?: string): Promise<Reply> {
    if (this.waiting) return Promise.reject(new Error('one request at a time per client'));
    const payload = body === undefined ? '' : body;
    const head =
      `${method} ${path} HTTP/1.1\r\nHost: ${this.host}:${this.port}\r\nConnection: keep-alive\r\n` +
      (body === undefined ? '' : `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n`) +
      '\r\n';
    return new Promise<Reply>((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.connected().write(head + payload);
    });
  }

  close(): void {
    this.socket?.destroy();
    this.socket = null;
  }

  private connected(): net.Socket {
    if (this.socket) return this.socket;
    const socket = net.connect({ host: this.host, port: this.port, noDelay: true });
    socket.on('data', (chunk: Buffer) => {
      this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
      this.tryReply();
    });
    const fail = (err: Error) => {
      this.socket = null;
      this.buffer = Buffer.alloc(0);
      const w = this.waiting;
      this.waiting = null;
      w?.reject(err);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection closed')));
    this.socket = socket;
    return socket;
  }

  /** Completes the waiting request once its headers and Content-Length body are in. */
  private tryReply(): void {
    const end = this.buffer.indexOf(HEADER_END);
    if (end < 0 || !this.waiting) return;
    const head = this.buffer.subarray(0, end).toString('latin1');
    const status = Number(head.slice(9, 12));
    const match = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (!match) {
      this.waiting.reject(new Error(`response without Content-Length: ${head.split('\r\n')[0]}`));
      this.waiting = null;
      return;
    }
    const length = Number(match[1]);
    const start = end + HEADER_END.length;
    if (this.buffer.length < start + length) return;
    const body = this.buffer.subarray(start, start + length).toString('utf8');
    this.buffer = this.buffer.subarray(start + length);
    const w = this.waiting;
    this.waiting = null;
    w.resolve({ status, body });
  }
}
