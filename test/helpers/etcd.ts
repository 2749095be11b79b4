/**
 * A real etcd for tests: 127.0.0.1 on random free ports, TLS with a server certificate issued from
 * flanctl's own CA (src/pki.ts), --client-cert-auth, --enable-v2. stop() kills it by its PID and
 * removes its temp dir (data dir, certs, log). Always call stop() in afterAll/finally.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, closeSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureCa, issueCert } from '../../src/pki/index.js';

export interface TestEtcd {
  /** https://127.0.0.1:<port> */
  endpoint: string;
  endpoints: string[];
  /** The temp dir holding data/, pki/ and etcd.log. */
  dir: string;
  /** CA (ca.pem + ca-key.pem), server cert (etcd-server.pem) and a client cert (flanneld.pem) from that CA. */
  pkiDir: string;
  tls: { ca: string; cert: string; key: string };
  pid: number;
  /** Run etcdctl against this etcd with the client cert; api 3 or 2 (etcdctl 3.4 flag spellings). */
  etcdctl(argv: string[], api?: 3 | 2): Promise<{ code: number; stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function run(cmd: string, argv: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, argv, { env, timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const portOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

async function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => (clearTimeout(t), resolve(true)));
  });
}

/** Start etcd; pkiDir may point at an existing flanctl pki dir (its CA is reused, certs added). */
export async function startEtcd(opts: { pkiDir?: string } = {}): Promise<TestEtcd> {
  const dir = mkdtempSync(join(tmpdir(), 'flanctl-etcd-'));
  const pkiDir = opts.pkiDir ?? join(dir, 'pki');
  let child: ChildProcess | undefined;
  // Last resort if the test process exits without calling stop(): kill our etcd (by PID) and drop its dir.
  const onExit = () => {
    if (child?.pid && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  const stop = async () => {
    process.off('exit', onExit);
    if (child && child.pid && child.exitCode === null && child.signalCode === null) {
      process.kill(child.pid, 'SIGTERM');
      if (!(await waitExit(child, 5000))) {
        process.kill(child.pid, 'SIGKILL');
        await waitExit(child, 5000);
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await ensureCa(pkiDir, { cn: 'flanctl-test-ca', expiry: '87600h' });
    const server = await issueCert({
      caDir: pkiDir, outDir: pkiDir, name: 'etcd-server', cn: 'etcd', key: { algo: 'rsa', size: 2048 }, expiry: '8760h',
      usage: 'peer', hosts: ['127.0.0.1', 'localhost'],
    });
    const client = await issueCert({
      caDir: pkiDir, outDir: pkiDir, name: 'flanneld', cn: 'flanneld', key: { algo: 'rsa', size: 2048 }, expiry: '8760h', usage: 'client',
    });
    const [clientPort, peerPort] = [await freePort(), await freePort()];
    const endpoint = `https://127.0.0.1:${clientPort}`;
    const peer = `http://127.0.0.1:${peerPort}`;
    const logFd = openSync(join(dir, 'etcd.log'), 'a');
    child = spawn('etcd', [
      '--name', 'test', '--data-dir', join(dir, 'data'),
      '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
      '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', `test=${peer}`,
      '--cert-file', server.certFile, '--key-file', server.keyFile, '--trusted-ca-file', join(pkiDir, 'ca.pem'),
      '--client-cert-auth', '--enable-v2', '--logger', 'zap', '--log-level', 'warn',
    ], { stdio: ['ignore', logFd, logFd] });
    closeSync(logFd);
    const tls = { ca: join(pkiDir, 'ca.pem'), cert: client.certFile, key: client.keyFile };
    const etcdctl: TestEtcd['etcdctl'] = (argv, api = 3) => {
      const flags = api === 3
        ? ['--endpoints', endpoint, '--cacert', tls.ca, '--cert', tls.cert, '--key', tls.key]
        : ['--endpoints', endpoint, '--ca-file', tls.ca, '--cert-file', tls.cert, '--key-file', tls.key];
      return run('etcdctl', [...flags, ...argv], { ...process.env, ETCDCTL_API: String(api) });
    };
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`etcd exited with ${child.exitCode}:\n${readFileSync(join(dir, 'etcd.log'), 'utf8')}`);
      if ((await portOpen(clientPort)) && (await etcdctl(['endpoint', 'health'])).code === 0) break;
      if (Date.now() > deadline) throw new Error(`etcd not healthy after 30 s:\n${readFileSync(join(dir, 'etcd.log'), 'utf8')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    return { endpoint, endpoints: [endpoint], dir, pkiDir, tls, pid: child.pid!, etcdctl, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
