/**
 * A lab node: a network namespace with eth0 on the lab bridge, and an init (lab/node-init.sh) in new
 * mount, uts, ipc and pid namespaces that overlays /etc /usr /var and runs sshd and supervisord.
 * The node's files live in DIR/nodes/<name>; its sshd host key in DIR/ssh/hosts/<name> (kept across
 * restarts so a known_hosts file stays valid; --fresh makes new ones).
 */
import { spawn } from 'node:child_process';
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FlanctlError } from '../errors.js';
import type { LabNames } from './names.js';
import { childrenOf, isAlive, procId, sh, shOk, signalIfOurs, waitFor, waitGone, type ProcId } from './proc.js';
import type { NodeState } from './state.js';

/** The repository (or installed package) root: src/lab/ and dist/lab/ are both two levels down. */
export const packageRoot = fileURLToPath(new URL('../../', import.meta.url));
export const NODE_INIT = join(packageRoot, 'lab', 'node-init.sh');

export const nodeDir = (dir: string, name: string) => join(dir, 'nodes', name);
export const hostKeyDir = (dir: string, name: string) => join(dir, 'ssh', 'hosts', name);
export const clientKey = (dir: string) => join(dir, 'ssh', 'id_ed25519');

/** argv prefix that runs a command inside a node (all its namespaces), without SSH. */
export const nsenterPrefix = (initPid: number) => ['nsenter', '-t', String(initPid), '-n', '-m', '-u', '-i', '-p', '--wd=/'];

export const SSHD_CONFIG = `# flanctl lab node sshd (see src/lab/node.ts)
Port 22
ListenAddress 0.0.0.0
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile /run/sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
MaxStartups 200:30:400
MaxSessions 200
LoginGraceTime 30
AcceptEnv LANG LC_*
Subsystem sftp internal-sftp
`;

const MODPROBE_STUB = `#!/bin/sh
# flanctl lab node: this kernel has no loadable modules; vxlan, bridge, br_netfilter and overlay are
# built in, so there is nothing to load. Succeeds like modprobe does for an already loaded module.
exit 0
`;

/** Make sure the host key exists (generated once) and the client key exists. */
export async function ensureKeys(dir: string, names: string[]): Promise<void> {
  mkdirSync(join(dir, 'ssh'), { recursive: true, mode: 0o700 });
  const jobs: Promise<unknown>[] = [];
  if (!existsSync(clientKey(dir))) jobs.push(shOk(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'flanctl-lab', '-f', clientKey(dir)]));
  for (const name of names) {
    const kd = hostKeyDir(dir, name);
    if (existsSync(join(kd, 'ssh_host_ed25519_key'))) continue;
    mkdirSync(kd, { recursive: true, mode: 0o700 });
    jobs.push(shOk(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', `root@${name}`, '-f', join(kd, 'ssh_host_ed25519_key')]));
  }
  await Promise.all(jobs);
}

/** The node's public host key line ("ssh-ed25519 AAAA…"). */
export function hostPublicKey(dir: string, name: string): string {
  const [type, key] = readFileSync(join(hostKeyDir(dir, name), 'ssh_host_ed25519_key.pub'), 'utf8').trim().split(/\s+/);
  return `${type} ${key}`;
}

/** Create the node dir: overlay upper/work dirs (pre-seeded with sshd config, host key, authorized_keys,
 * hostname, a modprobe stub) and the dirs bound over /opt, /root, /var/log. */
export function prepareNodeDir(dir: string, name: string): string {
  const nd = nodeDir(dir, name);
  for (const d of ['upper/etc/ssh', 'upper/usr/sbin', 'upper/var', 'work/etc', 'work/usr', 'work/var', 'opt', 'log', 'root/.ssh']) {
    mkdirSync(join(nd, d), { recursive: true, mode: 0o755 });
  }
  chmodSync(join(nd, 'root'), 0o700);
  chmodSync(join(nd, 'root/.ssh'), 0o700);
  const etcSsh = join(nd, 'upper/etc/ssh');
  copyFileSync(join(hostKeyDir(dir, name), 'ssh_host_ed25519_key'), join(etcSsh, 'ssh_host_ed25519_key'));
  chmodSync(join(etcSsh, 'ssh_host_ed25519_key'), 0o600);
  copyFileSync(join(hostKeyDir(dir, name), 'ssh_host_ed25519_key.pub'), join(etcSsh, 'ssh_host_ed25519_key.pub'));
  writeFileSync(join(etcSsh, 'sshd_config.flanlab'), SSHD_CONFIG, { mode: 0o644 });
  writeFileSync(join(nd, 'upper/etc/hostname'), `${name}\n`, { mode: 0o644 });
  writeFileSync(join(nd, 'upper/usr/sbin/modprobe'), MODPROBE_STUB, { mode: 0o755 });
  writeFileSync(join(nd, 'root/.ssh/authorized_keys'), readFileSync(`${clientKey(dir)}.pub`), { mode: 0o600 });
  return nd;
}

const netnsExists = (netns: string) => existsSync(join('/run/netns', netns));
const linkExists = (link: string) => existsSync(join('/sys/class/net', link));

/** Network: netns with lo up, eth0 (veth peer of <veth> on the bridge) holding the node address.
 * Two `ip -batch` runs instead of six execs: this matters on a loaded 2-core machine. */
export async function createNodeNetwork(lab: LabNames, node: NodeState): Promise<void> {
  if (netnsExists(node.netns)) await sh(['ip', 'netns', 'del', node.netns]);
  if (linkExists(node.veth)) await sh(['ip', 'link', 'del', node.veth]);
  const host = [
    ['netns', 'add', node.netns],
    ['link', 'add', node.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', node.netns],
    ['link', 'set', node.veth, 'master', lab.bridge, 'up'],
  ];
  const inside = [['addr', 'add', `${node.ip}/${lab.prefixLen}`, 'dev', 'eth0'], ['link', 'set', 'eth0', 'up'], ['link', 'set', 'lo', 'up']];
  await shOk(['ip', '-batch', '-'], { input: batch(host) });
  await shOk(['ip', '-n', node.netns, '-batch', '-'], { input: batch(inside) });
}

/** `ip -batch` input; the words are our own names and addresses (validated shapes, no spaces). */
function batch(lines: string[][]): string {
  for (const w of lines.flat()) if (!/^[A-Za-z0-9._/:-]+$/.test(w)) throw new FlanctlError(`unexpected word for ip -batch: ${JSON.stringify(w)}`);
  return lines.map((l) => l.join(' ')).join('\n') + '\n';
}

/** Start the node's init detached; returns its unshare and init processes. */
export async function spawnNodeInit(dir: string, node: NodeState): Promise<{ unshare: ProcId; init: ProcId }> {
  const nd = nodeDir(dir, node.name);
  const log = openSync(join(nd, 'init.log'), 'a');
  let unshare: ProcId | undefined;
  try {
    const argv = ['nsenter', `--net=/run/netns/${node.netns}`, 'unshare', '--mount', '--uts', '--ipc', '--pid', '--fork',
      '--propagation', 'private', '--kill-child=SIGKILL', '/bin/bash', NODE_INIT, node.name, nd];
    const child = spawn(argv[0], argv.slice(1), { detached: true, stdio: ['ignore', log, log], cwd: '/' });
    child.unref();
    unshare = child.pid !== undefined ? procId(child.pid) : undefined;
  } finally {
    closeSync(log);
  }
  if (!unshare) throw new FlanctlError(`${node.name}: the node init did not start (see ${join(nd, 'init.log')})`);
  const u = unshare;
  const initPid = await waitFor(() => childrenOf(u.pid, u.pid)[0], 10_000, 25);
  const init = initPid !== undefined ? procId(initPid) : undefined;
  if (!init) throw new FlanctlError(`${node.name}: the node init exited at once (see ${join(nd, 'init.log')})`);
  return { unshare, init };
}

/** True when sshd on <ip>:22 answers with an SSH banner. */
export function sshdAnswers(ip: string, timeoutMs = 3000): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const sock = connect({ host: ip, port: 22, timeout: timeoutMs });
    let buf = '';
    const done = (ok: boolean) => {
      sock.destroy();
      resolvePromise(ok);
    };
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.includes('\n')) done(buf.startsWith('SSH-'));
    });
    sock.on('timeout', () => done(false));
    sock.on('error', () => done(false));
    sock.on('close', () => done(buf.startsWith('SSH-')));
  });
}

/** True when the node's supervisord accepts connections on /run/supervisor.sock (seen via /proc/<init>/root). */
export function supervisordAnswers(init: ProcId | undefined, timeoutMs = 3000): Promise<boolean> {
  if (!init || !isAlive(init)) return Promise.resolve(false);
  return new Promise((resolvePromise) => {
    const sock = connect({ path: `/proc/${init.pid}/root/run/supervisor.sock`, timeout: timeoutMs });
    sock.on('connect', () => {
      sock.destroy();
      resolvePromise(true);
    });
    sock.on('timeout', () => {
      sock.destroy();
      resolvePromise(false);
    });
    sock.on('error', () => resolvePromise(false));
  });
}

/** Wait until sshd and supervisord answer; throws naming what did not come up. */
export async function waitNodeReady(dir: string, node: NodeState, timeoutMs = 90_000): Promise<void> {
  const ready = async () => !isAlive(node.init) || ((await sshdAnswers(node.ip, 500)) && (await supervisordAnswers(node.init, 500)));
  await waitFor(ready, timeoutMs, 100);
  const [ssh, sup] = [await sshdAnswers(node.ip, 5000), await supervisordAnswers(node.init, 5000)];
  if (ssh && sup) return;
  const what = !isAlive(node.init) ? 'its init exited' : [!ssh && 'sshd', !sup && 'supervisord'].filter(Boolean).join(' and ') + ' did not answer';
  let tail = '';
  try {
    tail = readFileSync(join(nodeDir(dir, node.name), 'init.log'), 'utf8').trim().split('\n').slice(-5).join('\n    ');
  } catch { /* no log */ }
  throw new FlanctlError(`${node.name}: ${what}${tail ? `:\n    ${tail}` : ''}`, { hint: `See ${nodeDir(dir, node.name)}/init.log and log/.` });
}

/** In a running node, start sshd / supervisord again if they were stopped (e.g. by a fault test). */
export async function restartNodeServices(node: NodeState): Promise<string[]> {
  if (!node.init || !isAlive(node.init)) return [];
  const started: string[] = [];
  const enter = nsenterPrefix(node.init.pid);
  if (!(await sshdAnswers(node.ip))) {
    await shOk([...enter, '/usr/sbin/sshd', '-f', '/etc/ssh/sshd_config.flanlab', '-E', '/var/log/sshd.log']);
    started.push('sshd');
  }
  if (!(await supervisordAnswers(node.init))) {
    await shOk([...enter, '/usr/bin/supervisord', '-c', '/etc/supervisor/supervisord.conf']);
    started.push('supervisord');
  }
  return started;
}

/** Kill the node's init (SIGKILL ends every process in its pid namespace), then its unshare. */
export async function stopNodeProcesses(node: NodeState): Promise<void> {
  signalIfOurs(node.init, 'SIGKILL');
  signalIfOurs(node.unshare, 'SIGKILL');
  if (!(await waitGone([node.init, node.unshare], 10_000))) {
    throw new FlanctlError(`${node.name}: processes ${[node.init?.pid, node.unshare?.pid].join(', ')} did not exit`);
  }
}

/** Delete the node's namespace and host veth (the veth goes with the namespace; waited for). */
export async function deleteNodeNetwork(node: NodeState): Promise<void> {
  if (netnsExists(node.netns)) await shOk(['ip', 'netns', 'del', node.netns]);
  if (!(await waitFor(() => !linkExists(node.veth), 5000, 25))) await sh(['ip', 'link', 'del', node.veth]);
}

export const nodeRunning = (node: NodeState) => isAlive(node.init) && netnsExists(node.netns);
export { netnsExists, linkExists };
