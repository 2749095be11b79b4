/**
 * Minimal HTTP(S) client on Node's built-ins, with the etcd client certificate, trying each
 * endpoint in turn (like the etcd clients' failover).
 */
import http from 'node:http';
import http2 from 'node:http2';
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
  /** Response headers, lower-case names (e.g. x-etcd-index). */
  headers?: Record<string, string | string[] | undefined>;
}

/** A response read as it arrives, one line at a time (etcd's watch streams: one JSON message a line). */
export interface LineStream {
  close(): void;
}

export interface StreamHandlers {
  /** HTTP status and headers of the response, before any line. */
  status?(code: number, headers: Record<string, string | string[] | undefined>): void;
  line(text: string): void;
  /** The stream ended or failed (not called after close()). */
  end(err?: Error): void;
}

export interface HttpClient {
  request(method: string, path: string, body?: string, headers?: Record<string, string>): Promise<HttpResponse>;
  /**
   * Send `body` (POST; GET sends none) to `path` on the preferred endpoint and hand over the
   * response line by line until close(), without a timeout (etcd watches, v2 long polls). Over TLS one
   * HTTP/2 connection carries every stream (closing a stream is cheap, as cancelling a gRPC watch is);
   * over plain http each stream is its own HTTP/1.1 connection.
   */
  stream(path: string, body: string, headers: Record<string, string>, h: StreamHandlers, method?: 'POST' | 'GET'): LineStream;
  /** Close idle connections (the HTTP/2 sessions). */
  close(): void;
}

/** Splits chunks into lines; the last partial line waits for the next chunk, or for flush() at the end. */
export function lineSplitter(onLine: (l: string) => void): ((chunk: Buffer | string) => void) & { flush(): void } {
  let rest = '';
  const push = (chunk: Buffer | string) => {
    rest += chunk.toString();
    let i;
    while ((i = rest.indexOf('\n')) >= 0) {
      const line = rest.slice(0, i).trim();
      rest = rest.slice(i + 1);
      if (line) onLine(line);
    }
  };
  return Object.assign(push, {
    flush() {
      const line = rest.trim();
      rest = '';
      if (line) onLine(line);
    },
  });
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
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
      req.on('error', reject);
      if (body !== undefined) req.write(body);
      req.end();
    });

  const tlsOpts = { ...(agentOpts.cert ? { cert: agentOpts.cert, key: agentOpts.key } : {}), ...(agentOpts.ca ? { ca: agentOpts.ca } : {}) };
  const sessions = new Map<string, http2.ClientHttp2Session>();
  const session = (origin: string) => {
    let s = sessions.get(origin);
    if (!s || s.closed || s.destroyed) {
      s = http2.connect(origin, tlsOpts);
      s.on('error', () => sessions.delete(origin));
      s.on('close', () => sessions.delete(origin));
      s.unref();
      sessions.set(origin, s);
    }
    return s;
  };

  const stream = (path: string, body: string, headers: Record<string, string>, h: StreamHandlers, method: 'POST' | 'GET' = 'POST'): LineStream => {
    const at = preferred;
    const endpoint = endpoints[at];
    const url = new URL(path, endpoint.endsWith('/') ? endpoint : endpoint + '/');
    let closed = false;
    let ended = false;
    const finish = (err?: Error) => {
      if (closed || ended) return;
      ended = true;
      // The endpoint failed: the next stream or request tries the next one first (etcd client failover).
      if (err instanceof EtcdUnreachable && preferred === at) preferred = (at + 1) % endpoints.length;
      h.end(err);
    };
    const onData = lineSplitter((l) => !closed && h.line(l));
    if (url.protocol === 'https:') {
      let req: http2.ClientHttp2Stream;
      try {
        req = session(url.origin).request({ ':method': method, ':path': url.pathname + url.search, ...(method === 'POST' ? { 'content-type': 'application/json' } : {}), ...headers });
      } catch (e) {
        queueMicrotask(() => finish(new EtcdUnreachable(`${endpoint}: ${(e as Error).message}`)));
        return { close: () => void (closed = true) };
      }
      req.on('response', (hd) => h.status?.(Number(hd[':status']), hd));
      req.on('data', onData);
      req.on('end', () => {
        onData.flush();
        finish();
      });
      req.on('error', (e) => finish(new EtcdUnreachable(`${endpoint}: ${e.message}`)));
      req.end(method === 'POST' ? body : undefined);
      return {
        close() {
          closed = true;
          req.close(http2.constants.NGHTTP2_CANCEL);
        },
      };
    }
    const sent = method === 'POST' ? body : '';
    const req = http.request(url, { method, agent: false, headers: { ...(method === 'POST' ? { 'content-type': 'application/json' } : {}), ...headers, 'content-length': Buffer.byteLength(sent) } }, (res) => {
      h.status?.(res.statusCode ?? 0, res.headers);
      res.on('data', onData);
      res.on('end', () => {
        onData.flush();
        finish();
      });
      res.on('error', (e) => finish(e));
    });
    req.on('error', (e) => finish(new EtcdUnreachable(`${endpoint}: ${e.message}`)));
    req.end(sent);
    return {
      close() {
        closed = true;
        req.destroy();
      },
    };
  };

  return {
    stream,
    close() {
      for (const s of sessions.values()) s.close();
      sessions.clear();
    },
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
