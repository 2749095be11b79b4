/**
 * The lab's etcd (Debian etcd-server 3.4): one member on the bridge address with TLS and client-cert
 * auth, v2 API enabled, data under DIR/etcd. The CA (DIR/pki) and the certs come from flanctl's own PKI.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, closeSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { ensureCa, issueCert } from '../pki/index.js';
import { FlanctlError } from '../errors.js';
import type { LabNames } from './names.js';
import { isAlive, procId, signalIfOurs, waitFor, waitGone, type ProcId } from './proc.js';

export interface LabTls {
  caFile: string;
  caKeyFile: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

export const pkiDir = (dir: string) => join(dir, 'pki');
export const etcdDir = (dir: string) => join(dir, 'etcd');

/** The lab CA in DIR/pki (ca.pem + ca-key.pem, so `flanctl certs generate` can issue the flanneld cert),
 * the etcd server cert (SANs: bridge address, 127.0.0.1) and a lab client cert in DIR/etcd/tls. */
export async function ensureLabTls(dir: string, names: LabNames): Promise<LabTls> {
  const ca = await ensureCa(pkiDir(dir), { cn: 'flanctl-lab-ca', expiry: '87600h' });
  const tlsDir = join(etcdDir(dir), 'tls');
  const key = { algo: 'ecdsa' as const, size: 256 };
  const server = await issueCert({ caDir: pkiDir(dir), outDir: tlsDir, name: 'server', cn: 'flanctl-lab-etcd', key, expiry: '87600h', usage: 'peer', hosts: [names.hostIp, '127.0.0.1'] });
  const client = await issueCert({ caDir: pkiDir(dir), outDir: tlsDir, name: 'client', cn: 'flanctl-lab-client', key, expiry: '87600h', usage: 'client' });
  return { caFile: ca.certFile, caKeyFile: ca.keyFile, serverCert: server.certFile, serverKey: server.keyFile, clientCert: client.certFile, clientKey: client.keyFile };
}

export function etcdArgv(dir: string, names: LabNames, tls: LabTls): string[] {
  return [
    '/usr/bin/etcd',
    '--name', `flanlab${names.index}`,
    '--data-dir', join(etcdDir(dir), 'data'),
    '--listen-client-urls', names.etcdClientUrl,
    '--advertise-client-urls', names.etcdClientUrl,
    '--listen-peer-urls', names.etcdPeerUrl,
    '--initial-advertise-peer-urls', names.etcdPeerUrl,
    '--initial-cluster', `flanlab${names.index}=${names.etcdPeerUrl}`,
    '--initial-cluster-token', `flanlab-${names.index}`,
    '--initial-cluster-state', 'new',
    '--client-cert-auth',
    '--trusted-ca-file', tls.caFile,
    '--cert-file', tls.serverCert,
    '--key-file', tls.serverKey,
    '--enable-v2',
    '--heartbeat-interval', '50',
    '--election-timeout', '500',
    '--snapshot-count', '10000',
    '--logger', 'zap',
    '--log-outputs', 'stderr',
  ];
}

/** Start etcd detached (it outlives the CLI); stdout/stderr go to DIR/etcd/etcd.log. */
export function spawnEtcd(dir: string, names: LabNames, tls: LabTls): ProcId {
  mkdirSync(join(etcdDir(dir), 'data'), { recursive: true, mode: 0o700 });
  const log = openSync(join(etcdDir(dir), 'etcd.log'), 'a');
  try {
    const argv = etcdArgv(dir, names, tls);
    const child = spawn(argv[0], argv.slice(1), { detached: true, stdio: ['ignore', log, log], cwd: '/' });
    child.unref();
    const id = child.pid !== undefined ? procId(child.pid) : undefined;
    if (!id) throw new FlanctlError(`etcd did not start (see ${join(etcdDir(dir), 'etcd.log')})`);
    return id;
  } finally {
    closeSync(log);
  }
}

/** GET <endpoint><path> with the given client cert (or none); resolves the status and body, or the error. */
export function etcdGet(endpoint: string, path: string, tls: { ca: string; cert?: string; key?: string }, timeoutMs = 5000):
  Promise<{ status?: number; body?: string; error?: string }> {
  return new Promise((resolvePromise) => {
    const req = request(`${endpoint}${path}`, {
      ca: readFileSync(tls.ca),
      cert: tls.cert ? readFileSync(tls.cert) : undefined,
      key: tls.key ? readFileSync(tls.key) : undefined,
      timeout: timeoutMs,
      agent: false, // no keep-alive socket holding the CLI open after it is done
      headers: { connection: 'close' },
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolvePromise({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolvePromise({ error: e.message }));
    req.end();
  });
}

export async function etcdHealthy(endpoint: string, tls: LabTls): Promise<boolean> {
  const r = await etcdGet(endpoint, '/health', { ca: tls.caFile, cert: tls.clientCert, key: tls.clientKey });
  return r.status === 200 && /"health":\s*"true"/.test(r.body ?? '');
}

export async function waitEtcdHealthy(dir: string, endpoint: string, tls: LabTls, pid: ProcId | undefined, timeoutMs = 90_000): Promise<void> {
  await waitFor(async () => !isAlive(pid) || (await etcdHealthy(endpoint, tls)), timeoutMs, 200);
  if (!(await etcdHealthy(endpoint, tls))) {
    let tail = '';
    try {
      tail = readFileSync(join(etcdDir(dir), 'etcd.log'), 'utf8').trim().split('\n').slice(-5).join('\n    ');
    } catch { /* no log */ }
    throw new FlanctlError(`lab etcd at ${endpoint} did not become healthy${tail ? `:\n    ${tail}` : ''}`, { hint: `See ${join(etcdDir(dir), 'etcd.log')}.` });
  }
}

/** SIGTERM, then SIGKILL after a grace period; only the process recorded at start. */
export async function stopEtcd(pid: ProcId | undefined): Promise<void> {
  if (!signalIfOurs(pid, 'SIGTERM')) return;
  if (!(await waitGone([pid], 5000))) {
    signalIfOurs(pid, 'SIGKILL');
    await waitGone([pid], 5000);
  }
}
