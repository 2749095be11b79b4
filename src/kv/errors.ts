/**
 * One place that turns client-library failures (gRPC, TLS, sockets, HTTP) into an EtcdError that
 * names the endpoint(s), says what went wrong in plain words and what to do next.
 */
import { EtcdError, errorMessage } from '../errors.js';

export interface KvTls {
  ca: string;
  cert: string;
  key: string;
}

const CLIENT_REJECTED = /alert (bad certificate|certificate required|unknown ca|certificate expired|certificate unknown|unsupported certificate)|tlsv13 alert|certificate required/i;
const SERVER_UNTRUSTED = /unable to verify|self[- ]signed|unable to get (local )?issuer|certificate has expired|CERT_|Hostname\/IP does not match|altnames/i;
const TLS_OTHER = /handshake|ssl|tls|EPROTO|wrong version number/i;
const UNREACHABLE = /ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|No connection established|connect|deadline|timed? ?out|UNAVAILABLE|socket hang up|ECONNRESET/i;

export type FailureKind = 'client-rejected' | 'server-untrusted' | 'tls' | 'unreachable' | 'other';

export function classify(err: unknown): FailureKind {
  const text = `${errorMessage(err)} ${(err as { code?: unknown })?.code ?? ''} ${errorMessage((err as { cause?: unknown })?.cause ?? '')}`;
  if (CLIENT_REJECTED.test(text)) return 'client-rejected';
  if (SERVER_UNTRUSTED.test(text)) return 'server-untrusted';
  if (TLS_OTHER.test(text)) return 'tls';
  if (UNREACHABLE.test(text)) return 'unreachable';
  return 'other';
}

/** gRPC and OpenSSL wrap the useful part: "14 UNAVAILABLE: No connection established. Last error: 80BC…:error:0A000412:SSL routines:ssl3_read_bytes:sslv3 alert bad certificate:…" → "sslv3 alert bad certificate". */
export function cleanDetail(err: unknown): string {
  let d = errorMessage(err).split('\n')[0];
  d = d.replace(/^\d+ [A-Z_]+: No connection established\. Last error: (Error: )?/, '').replace(/\. Resolution note:.*$/, '');
  const ssl = /:SSL routines:[^:]*:([^:]+)/.exec(d);
  return (ssl ? ssl[1] : d).trim();
}

export function etcdFailure(api: 'v3' | 'v2', endpoints: string[], op: string, err: unknown, tls?: KvTls): EtcdError {
  if (err instanceof EtcdError) return err;
  const where = endpoints.join(', ');
  const detail = cleanDetail(err);
  const check = 'Run `flanctl certs check`.';
  switch (classify(err)) {
    case 'client-rejected':
      return new EtcdError(`etcd ${api} at ${where} refused flanctl's client certificate${tls ? ` ${tls.cert}` : ''} during ${op} (${detail})`, {
        cause: err,
        hint: `The certificate must be signed by the CA etcd trusts (its --trusted-ca-file), unexpired, with client auth. ${check}`,
      });
    case 'server-untrusted':
      return new EtcdError(`etcd ${api} at ${where}: its server certificate is not trusted${tls ? ` by ${tls.ca}` : ''} during ${op} (${detail})`, {
        cause: err,
        hint: `Set etcd.caFile (or pki.dir's ca.pem) to the CA that signed etcd's server certificate, and check the certificate covers this address. ${check}`,
      });
    case 'tls':
      return new EtcdError(`etcd ${api} at ${where}: TLS failed during ${op} (${detail})`, {
        cause: err,
        hint: `Check that the endpoint scheme (https://) matches etcd's listen URL and the TLS files. ${check}`,
      });
    case 'unreachable':
      return new EtcdError(`etcd ${api} at ${where}: unreachable during ${op} (${detail})`, {
        cause: err,
        hint: `Check etcd.endpoints in the inventory and that etcd is running and reachable from here. If it answers but refuses the client, run \`flanctl certs check\`.`,
      });
    default:
      return new EtcdError(`etcd ${api} at ${where}: ${op} failed (${detail})`, {
        cause: err,
        hint: `Check etcd.api (v3 for flannel >= 0.18, v2 for older) and the TLS files. ${check}`,
      });
  }
}
