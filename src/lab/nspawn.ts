/**
 * A lab node that boots a real systemd (`flanctl lab up --init systemd`), with systemd-nspawn:
 *
 *   unshare --mount --propagation private bash lab/nspawn-launch.sh <cgroup> <rootfs> <node dir> -- systemd-nspawn …
 *
 * The launcher moves itself into its own cgroup, mounts the node's root (overlayfs: shared rootfs +
 * DIR/nodes/<name>/upper) in its private mount namespace, and boots the node again while nspawn exits
 * with 133 (`systemctl reboot` inside). The node joins the network namespace the lab made
 * (netns + eth0 on the bridge), so addresses and links are the same as for supervisord nodes.
 * Facts behind the flags: LAB-NOTES.md §systemd. No machined, no system bus: nodes are entered with
 * nsenter (PID 1 of the node = the child of nspawn) or SSH.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FlanctlError } from '../errors.js';
import { clientKey, hostKeyDir, nodeDir, nsenterPrefix, packageRoot, sshdAnswers } from './node.js';
import { childrenOf, isAlive, procId, sh, signalIfOurs, waitFor, waitGone, type ProcId } from './proc.js';
import type { NodeState } from './state.js';

export const NSPAWN_LAUNCH = join(packageRoot, 'lab', 'nspawn-launch.sh');
/** Exit status of systemd-nspawn when the node asked for a reboot. */
export const REBOOT_STATUS = 133;

export interface NspawnSpec {
  /** Unique on the machine: the node's netns name (flanlab-<k>-node<i>). */
  machine: string;
  hostname: string;
  /** The merged root the launcher mounts (DIR/nodes/<name>/root). */
  root: string;
  uuid: string;
  netns: string;
  /** Host files bound read-only, SRC[:DST] (the stand-in's Node.js runtime). */
  bindRo?: string[];
}

/** systemd-nspawn's argv for a node (LAB-NOTES.md: --register=no --keep-unit without a system bus;
 * CAP_NET_ADMIN because joining a netns by path drops it; a console nobody reads would block). */
export function nspawnArgs(s: NspawnSpec): string[] {
  for (const [k, v] of Object.entries({ machine: s.machine, hostname: s.hostname, uuid: s.uuid, netns: s.netns })) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(v)) throw new FlanctlError(`nspawn: unexpected ${k} ${JSON.stringify(v)}`);
  }
  return [
    // /proc/sys/net writable (nspawn leaves it read-only when the netns is not its own): flanctl sets
    // net.ipv4.ip_forward, and the netns is the node's alone.
    'env', 'SYSTEMD_NSPAWN_API_VFS_WRITABLE=network',
    'systemd-nspawn', '--quiet', '--boot',
    `--directory=${s.root}`,
    `--machine=${s.machine}`,
    `--hostname=${s.hostname}`,
    `--uuid=${s.uuid}`,
    '--register=no', '--keep-unit',
    `--network-namespace-path=/run/netns/${s.netns}`,
    '--capability=CAP_NET_ADMIN',
    '--console=read-only',
    '--resolv-conf=off', '--timezone=off', '--link-journal=no',
    ...(s.bindRo ?? []).map((b) => `--bind-ro=${b}`),
  ];
}

/** The whole launcher argv: a private mount namespace, then lab/nspawn-launch.sh. */
export function launcherArgv(cgroup: string, rootfs: string, nd: string, nspawn: string[]): string[] {
  return ['unshare', '--mount', '--propagation', 'private', '/bin/bash', NSPAWN_LAUNCH, cgroup, rootfs, nd, '--', ...nspawn];
}

/** A stable per-node machine id (the rootfs has none): derived from the lab dir and node name. */
export function nodeUuid(dir: string, name: string): string {
  const h = createHash('sha256').update(`${dir}\0${name}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Per-node files in the overlay's upper dir: hostname, its own SSH host key, root's authorized_keys. */
export function prepareSystemdNodeDir(dir: string, name: string): string {
  const nd = nodeDir(dir, name);
  const up = join(nd, 'upper');
  for (const d of ['upper/etc/ssh', 'upper/root/.ssh', 'work', 'root']) mkdirSync(join(nd, d), { recursive: true, mode: 0o755 });
  chmodSync(join(up, 'root'), 0o700);
  chmodSync(join(up, 'root/.ssh'), 0o700);
  writeFileSync(join(up, 'etc/hostname'), `${name}\n`, { mode: 0o644 });
  for (const f of ['ssh_host_ed25519_key', 'ssh_host_ed25519_key.pub']) {
    copyFileSync(join(hostKeyDir(dir, name), f), join(up, 'etc/ssh', f));
    chmodSync(join(up, 'etc/ssh', f), f.endsWith('.pub') ? 0o644 : 0o600);
  }
  writeFileSync(join(up, 'root/.ssh/authorized_keys'), readFileSync(`${clientKey(dir)}.pub`), { mode: 0o600 });
  return nd;
}

export const cgroupName = (node: NodeState) => node.netns;

/** Start the node's launcher detached; returns it (the node's PID 1 is found with systemdInit). */
export function spawnSystemdNode(dir: string, rootfs: string, node: NodeState): ProcId {
  const nd = nodeDir(dir, node.name);
  const argv = launcherArgv(cgroupName(node), rootfs, nd, nspawnArgs({
    machine: node.netns, hostname: node.name, root: join(nd, 'root'), uuid: nodeUuid(dir, node.name), netns: node.netns,
    bindRo: [`${process.execPath}:/usr/bin/node`],
  }));
  const log = openSync(join(nd, 'init.log'), 'a');
  try {
    const child = spawn(argv[0], argv.slice(1), { detached: true, stdio: ['ignore', log, log], cwd: '/' });
    child.unref();
    const id = child.pid !== undefined ? procId(child.pid) : undefined;
    if (!id) throw new FlanctlError(`${node.name}: the nspawn launcher did not start (see ${join(nd, 'init.log')})`);
    return id;
  } finally {
    closeSync(log);
  }
}

/** nspawn (child of the launcher) and the node's PID 1 (child of nspawn); undefined while rebooting. */
export function systemdProcs(node: NodeState): { nspawn?: ProcId; init?: ProcId } {
  if (!node.launcher || !isAlive(node.launcher)) return {};
  const np = childrenOf(node.launcher.pid, node.launcher.pid)[0];
  const nspawn = np !== undefined ? procId(np) : undefined;
  const ip = nspawn ? childrenOf(nspawn.pid, nspawn.pid)[0] : undefined;
  return { nspawn, init: ip !== undefined ? procId(ip) : undefined };
}

/** `systemctl is-system-running` inside the node ('down' when it does not run). */
export async function systemState(node: NodeState): Promise<string> {
  const init = systemdProcs(node).init;
  if (!init) return 'down';
  const r = await sh([...nsenterPrefix(init.pid), 'systemctl', 'is-system-running'], { timeoutMs: 10_000 });
  return r.stdout.trim() || 'unknown';
}

/** Wait until sshd answers and systemd has finished booting (running; degraded is reported). */
export async function waitSystemdNodeReady(dir: string, node: NodeState, timeoutMs = 90_000): Promise<void> {
  let state = 'down';
  let ssh = false;
  await waitFor(async () => {
    if (!isAlive(node.launcher)) return true;
    state = await systemState(node);
    ssh = state !== 'down' && (await sshdAnswers(node.ip, 500));
    return ssh && ['running', 'degraded'].includes(state);
  }, timeoutMs, 100);
  if (ssh && state === 'running') return;
  const init = systemdProcs(node).init;
  const failed = init ? (await sh([...nsenterPrefix(init.pid), 'systemctl', '--failed', '--no-legend', '--plain'])).stdout.trim() : '';
  let tail = '';
  try {
    tail = readFileSync(join(nodeDir(dir, node.name), 'init.log'), 'utf8').trim().split('\n').slice(-5).join('\n    ');
  } catch { /* no log */ }
  const what = !isAlive(node.launcher) ? 'its launcher exited' : !ssh ? `sshd did not answer (system ${state})` : `systemd is ${state}${failed ? `; failed units: ${failed}` : ''}`;
  throw new FlanctlError(`${node.name}: ${what}${tail ? `:\n    ${tail}` : ''}`, { hint: `See ${nodeDir(dir, node.name)}/init.log.` });
}

/** Kill the launcher (so it boots nothing again), then the node's PID 1; nspawn exits after it. */
export async function stopSystemdNode(node: NodeState): Promise<void> {
  const { nspawn, init } = systemdProcs(node);
  signalIfOurs(node.launcher, 'SIGKILL');
  signalIfOurs(init, 'SIGKILL');
  if (!(await waitGone([node.launcher, init, nspawn], 15_000))) {
    signalIfOurs(nspawn, 'SIGKILL');
    if (!(await waitGone([nspawn], 5000))) throw new FlanctlError(`${node.name}: nspawn ${nspawn?.pid} did not exit`);
  }
  removeNodeCgroups(cgroupName(node));
}

/** The cgroup roots the launcher joins (cgroup v1 hybrid: name=systemd and unified; pure v2: the root). */
export function cgroupRoots(): string[] {
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) return ['/sys/fs/cgroup'];
  return ['/sys/fs/cgroup/systemd', '/sys/fs/cgroup/unified'].filter((d) => existsSync(d));
}

/** Remove the node's cgroup dirs depth-first (empty once its processes are gone). */
export function removeNodeCgroups(name: string): void {
  const rm = (d: string) => {
    let entries: string[] = [];
    try {
      entries = readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch {
      return;
    }
    for (const e of entries) rm(join(d, e));
    try {
      rmdirSync(d);
    } catch { /* still busy: reported by the caller's checks */ }
  };
  for (const root of cgroupRoots()) if (existsSync(join(root, name))) rm(join(root, name));
}
