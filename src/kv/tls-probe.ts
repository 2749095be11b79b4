/**
 * One TLS handshake (and `GET /version`) to an etcd endpoint with a given trust anchor and client
 * certificate: does etcd accept this client certificate, and does its server certificate chain to
 * this CA? Used by `certs rotate --ca` before each phase that depends on etcd's side of the trust.
 * etcd with --client-cert-auth rejects a client certificate it does not trust during the handshake
 * ("bad certificate" alert), so a 200 means both directions are trusted.
 */
import { request } from 'node:https';

export interface TlsProbe {
  endpoint: string;
  ok: boolean;
  error?: string;
}

export function probeEtcdTls(endpoint: string, tls: { ca: string | Buffer; cert: string | Buffer; key: string | Buffer }, timeoutMs = 5000): Promise<TlsProbe> {
  return new Promise((done) => {
    let url: URL;
    try {
      url = new URL('/version', endpoint);
    } catch {
      done({ endpoint, ok: false, error: 'not a URL' });
      return;
    }
    const req = request(url, { ca: tls.ca, cert: tls.cert, key: tls.key, timeout: timeoutMs, agent: false, headers: { connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode === 200 ? { endpoint, ok: true } : { endpoint, ok: false, error: `HTTP ${res.statusCode}` }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e) => done({ endpoint, ok: false, error: shortTlsError(e) }));
    req.end();
  });
}

/** OpenSSL's "…:sslv3 alert bad certificate:../deps/…" → "TLS alert: bad certificate (etcd rejected the client certificate)". */
export function shortTlsError(e: Error & { code?: string }): string {
  if (/alert bad certificate|alert unknown ca|alert certificate required/.test(e.message)) return 'etcd rejected the client certificate (TLS alert: bad certificate)';
  if (e.code && /CERT|SELF_SIGNED|ISSUER|VERIFY/.test(e.code)) return `etcd's server certificate is not trusted (${e.code})`;
  return e.message.split('\n')[0];
}
