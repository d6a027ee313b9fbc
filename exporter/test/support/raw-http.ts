// One HTTP request over node:http, with what fetch() hides: the raw (maybe gzipped) body, whether the
// body arrived whole, and the client's own address.
import { request, type Agent, type IncomingHttpHeaders } from 'node:http';

export interface RawAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** False when the connection ended before the body did. */
  complete: boolean;
}

export interface RawAsk {
  headers?: Record<string, string>;
  /** The client's own (loopback) address. */
  from?: string;
  agent?: Agent | false;
}

export function rawGet(url: string, { headers = {}, from, agent = false }: RawAsk = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent, ...(from ? { localAddress: from } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('close', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), complete: res.complete }));
    });
    req.on('error', reject);
    req.end();
  });
}
