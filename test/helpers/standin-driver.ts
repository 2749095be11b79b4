/**
 * Drives the flanneld stand-in inside lab nodes for test/e2e/standin.test.ts: uploads files into a node's
 * own filesystem, starts the stand-in in the background (exit status → /run/standin.rc), stops it by its
 * recorded PID, reads subnet.env/routes, runs etcdctl against the lab etcd, and waits with diagnostics.
 */
import { execFile } from 'node:child_process';
import type { TestLab } from './lab.js';

export type StandinVersion = 'v0.20.2' | 'v0.11.0' | 'v0.22.3';
export const STANDIN_TLS_DIR = '/etc/standin-tls';

/** Thrown inside a waitFor condition to stop waiting at once. */
export class GiveUp extends Error {}

export interface Route {
  dst: string;
  gateway?: string;
  dev: string;
  flags: string[];
}

/** `getLab` is called lazily, so the driver can be made before beforeAll starts the lab. */
export function standinDriver(getLab: () => TestLab) {
  const lab = {
    exec: (node: string, argv: string[], opts?: { input?: string }) => getLab().exec(node, argv, opts),
    get nodes() {
      return getLab().nodes;
    },
  };
  const TLS_DIR = STANDIN_TLS_DIR;
  type Version = StandinVersion;
  /** Nodes whose stand-in may still run (stopped in afterAll). */
  const started = new Set<string>();

  const run = (argv: string[], env: NodeJS.ProcessEnv = process.env) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(argv[0], argv.slice(1), { env, timeout: 30_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      ),
    );
  const etcdctl = async (argv: string[], api: 2 | 3 = 3) => {
    const { etcdEndpoint: endpoint, etcdTls: tls } = getLab();
    const flags = api === 3
      ? ['--endpoints', endpoint, '--cacert', tls.ca, '--cert', tls.cert, '--key', tls.key]
      : ['--endpoints', endpoint, '--ca-file', tls.ca, '--cert-file', tls.cert, '--key-file', tls.key];
    const r = await run(['etcdctl', ...flags, ...argv], { ...process.env, ETCDCTL_API: String(api) });
    if (r.code !== 0) throw new Error(`etcdctl ${argv.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const exec = async (node: string, argv: string[]) => {
    const r = await lab.exec(node, argv);
    if (r.code !== 0) throw new Error(`${node}: ${argv.join(' ')}: exit ${r.code}: ${r.stderr}`);
    return r.stdout;
  };
  /** Copy a file into the node's own filesystem (base64 on stdin). */
  const upload = async (node: string, path: string, content: Buffer, mode: string) => {
    const r = await lab.exec(node, ['sh', '-c', 'mkdir -p "$(dirname "$1")" && base64 -d > "$1" && chmod "$2" "$1"', 'sh', path, mode], {
      input: content.toString('base64'),
    });
    if (r.code !== 0) throw new Error(`${node}: upload ${path}: ${r.stderr}`);
  };
  const waitFor = async <T>(what: string, fn: () => Promise<T | undefined>, ms = 30_000): Promise<T> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = await fn().catch((e: unknown) => {
        if (e instanceof GiveUp) throw e;
        return undefined;
      });
      if (v !== undefined && v !== false) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${await diagnostics()}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  /** The end of every node's stand-in log and its routes, for failure messages. */
  const diagnostics = async () => {
    const parts: string[] = [];
    for (const n of lab.nodes) {
      const log = await lab.exec(n.name, ['sh', '-c', 'tail -n 25 /var/log/standin.log; ip -4 route show']);
      parts.push(`--- ${n.name}\n${log.stdout}${log.stderr}`);
    }
    return parts.join('\n');
  };
  const cat = async (node: string, path: string) => {
    const r = await lab.exec(node, ['cat', path]);
    return r.code === 0 ? r.stdout : undefined;
  };

  /** Start the stand-in in the background inside the node; its exit status lands in /run/standin.rc. */
  const start = async (node: string, version: Version = 'v0.20.2', env: string[] = [], wait = true) => {
    const argv = [
      'env', ...env, 'node', `/opt/standin/${version}/flanneld`,
      `-etcd-endpoints=${getLab().etcdEndpoint}`, `-etcd-cafile=${TLS_DIR}/ca.pem`, `-etcd-certfile=${TLS_DIR}/client.pem`,
      '-etcd-keyfile', `${TLS_DIR}/client-key.pem`, '--iface=eth0', '-ip-masq', '-healthz-port=8471',
    ];
    await exec(node, ['sh', '-c', 'rm -f /run/standin.rc /run/standin.pid; cat /var/log/standin.log >> /var/log/standin.old.log; : > /var/log/standin.log']);
    await exec(node, [
      'sh', '-c',
      'setsid sh -c \'"$@" & echo $! > /run/standin.pid; wait $!; echo $? > /run/standin.rc\' sh "$@" >>/var/log/standin.log 2>&1 </dev/null &',
      'sh', ...argv,
    ]);
    started.add(node);
    await waitFor(`${node} stand-in pid`, () => cat(node, '/run/standin.pid'));
    if (wait) await running(node);
  };
  const running = (node: string) =>
    waitFor(`${node} stand-in to run its backend`, async () => {
      if ((await cat(node, '/run/standin.rc')) !== undefined) throw new GiveUp(`${node}: the stand-in exited:\n${await cat(node, '/var/log/standin.log')}`);
      return (await cat(node, '/var/log/standin.log'))?.includes('Running backend.') || undefined;
    });
  /** The stand-in's exit status once it has exited (the file exists, empty, a moment before echo writes it). */
  const exitStatus = (node: string, ms = 20_000) => waitFor(`${node} stand-in exit`, async () => (await cat(node, '/run/standin.rc'))?.trim() || undefined, ms);
  const stop = async (node: string) => {
    await exec(node, ['sh', '-c', 'kill -TERM "$(cat /run/standin.pid)"']);
    const rc = await exitStatus(node);
    started.delete(node);
    return rc;
  };
  const subnetEnv = async (node: string) => {
    const text = await waitFor(`${node} subnet.env`, () => cat(node, '/run/flannel/subnet.env'));
    return Object.fromEntries(text.trim().split('\n').map((l) => l.split('=') as [string, string]));
  };
  /** "10.244.7.1/24" → "10.244.7.0/24" (the lease subnet; here always a /24). */
  const leaseSubnet = (flannelSubnet: string) => flannelSubnet.replace(/\.1\/24$/, '.0/24');
  const routes = async (node: string) => JSON.parse(await exec(node, ['ip', '-j', '-4', 'route', 'show'])) as { dst: string; gateway?: string; dev: string; flags: string[] }[];


  return { started, etcdctl, exec, upload, waitFor, cat, start, running, exitStatus, stop, subnetEnv, leaseSubnet, routes };
}
