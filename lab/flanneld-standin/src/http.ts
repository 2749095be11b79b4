/**
 * Minimal HTTP(S) client on Node's built-ins, with the etcd client certificate, trying each
 * endpoint in turn (like the etcd clients' failover).
 */
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';

export interface TlsFiles {
  cafile: string;
  certfile: string;
  keyfile: string;
}

export interface HttpResponse {
  status: number;
  body: string;
}

export interface HttpClient {
  request(method: string, path: string, body?: string, headers?: Record<string, string>): Promise<HttpResponse>;
}

export class EtcdUnreachable extends Error {}

export function httpClient(endpoints: string[], tls: Partial<TlsFiles>, timeoutMs = 5000): HttpClient {
  const agentOpts: https.AgentOptions = { keepAlive: true };
  if (tls.certfile && tls.keyfile) {
    agentOpts.cert = readFileSync(tls.certfile);
    agentOpts.key = readFileSync(tls.keyfile);
    if (tls.cafile) agentOpts.ca = readFileSync(tls.cafile);
  }
  const httpsAgent = new https.Agent(agentOpts);
  const httpAgent = new http.Agent({ keepAlive: true });
  let preferred = 0;

  const once = (endpoint: string, method: string, path: string, body?: string, headers: Record<string, string> = {}) =>
    new Promise<HttpResponse>((resolve, reject) => {
      const url = new URL(path, endpoint.endsWith('/') ? endpoint : endpoint + '/');
      const secure = url.protocol === 'https:';
      const req = (secure ? https : http).request(
        url,
        {
          method,
          agent: secure ? httpsAgent : httpAgent,
          headers: { ...headers, ...(body !== undefined ? { 'content-length': Buffer.byteLength(body) } : {}) },
          timeout: timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
      req.on('error', reject);
      if (body !== undefined) req.write(body);
      req.end();
    });

  return {
    async request(method, path, body, headers) {
      const errors: string[] = [];
      for (let n = 0; n < endpoints.length; n++) {
        const idx = (preferred + n) % endpoints.length;
        try {
          const res = await once(endpoints[idx], method, path, body, headers);
          preferred = idx;
          return res;
        } catch (e) {
          errors.push(`${endpoints[idx]}: ${(e as Error).message}`);
        }
      }
      throw new EtcdUnreachable(`no etcd endpoint answered (${errors.join('; ')})`);
    },
  };
}
