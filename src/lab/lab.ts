/**
 * src/lab/ owns `flanctl lab`: namespace nodes (node.ts), their bridge, etcd with TLS, the lab's
 * inventory and state file. It is test equipment for flanctl and may import anything below the
 * commands except the operations.
 *
 * flanctl lab: labUp / labDown / labStatus / labExec (DESIGN.md §6). Everything created is recorded in
 * DIR/state.json first, so `labDown` removes exactly that (by PID + start time), also after a crash.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statfsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FlanctlError, UsageError, errorMessage } from '../errors.js';
import { mapLimit } from '../engine/parallel.js';
import { bridgeExists, claimBridge, configureBridge, deleteBridge } from './bridge.js';
import { ensurePackages } from './deps.js';
import { ensureLabTls, etcdDir, spawnEtcd, stopEtcd, waitEtcdHealthy } from './etcd.js';
import { inventoryFile, writeKnownHosts, writeLabInventory } from './inventory.js';
import { STANDIN_ENV_FILE, chooseTarball, standinEnvText } from './standin.js';
import { MAX_NODES, labNames, nodeNames, nodeNumber, type LabNames } from './names.js';
import { deleteNodeNetwork, ensureKeys, nodeDir, nsenterPrefix } from './node.js';
import { currentInit, nodeUp, reviveServices, startNode, stopNode, waitReady } from './node-kind.js';
import { isAlive, sh, type RunResult } from './proc.js';
import { NSPAWN_TOOLS, defaultRootfs, ensureRootfs } from './rootfs.js';
import { emptyState, nodeInitKind, readState, saveState, type LabInit, type LabState, type NodeState } from './state.js';
import { checkOwner, claimLabDir, foreignEntries, labDir, purgeLabDir } from './labdir.js';

export type { LabState, NodeState } from './state.js';
export { labStatus, type LabStatus } from './status.js';

export const DEFAULT_LAB_DIR = '.flanctl-lab';
export const DEFAULT_NODES = 3;

export interface LabUpOptions {
  dir: string;
  nodes?: number;
  flannelTarball?: string;
  /** A stand-in release (v0.11.0, v0.20.2, v0.22.3); excludes flannelTarball. Default v0.20.2. */
  release?: string;
  /** Switch the stand-in's v0.20.2 watch bug on in every node (/etc/flanneld-standin.env); off otherwise. */
  watchBug?: boolean;
  /** With watchBug: FLANNELD_STANDIN_WATCH_GAP_MS (ms before each new etcd watch; widens the bug's window). */
  watchBugGapMs?: number;
  fresh?: boolean;
  installDeps?: boolean;
  /** The nodes' init: supervisord (default) or a real systemd booted with systemd-nspawn. */
  init?: LabInit;
  /** systemd nodes: where the shared rootfs lives (default DIR/rootfs) and whether to build it anew. */
  rootfs?: string;
  rebuildRootfs?: boolean;
  /** Progress lines (the CLI prints them; default: silent). */
  log?: (line: string) => void;
}

const OVERLAYFS_MAGIC = 0x794c7630;

export function checkRoot(): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new FlanctlError('the lab needs root (network namespaces, mounts, a bridge)', { hint: 'Run it as root, e.g. `sudo flanctl lab up`.' });
  }
}

export { labDir } from './labdir.js';

/** overlayfs refuses an upper dir on overlayfs: then the node dirs go on a tmpfs mounted at DIR/nodes. */
async function ensureNodesFilesystem(state: LabState): Promise<void> {
  const nodesDir = join(state.dir, 'nodes');
  mkdirSync(nodesDir, { recursive: true, mode: 0o755 });
  if (state.mounts.includes(nodesDir)) return;
  if (Number(statfsSync(state.dir).type) !== OVERLAYFS_MAGIC) return;
  state.mounts.push(nodesDir);
  saveState(state);
  const r = await sh(['mount', '-t', 'tmpfs', '-o', 'mode=0755', 'flanlab-nodes', nodesDir]);
  if (r.code !== 0) throw new FlanctlError(`cannot mount a tmpfs on ${nodesDir} (${state.dir} is on overlayfs): ${r.stderr.trim()}`);
}

/** Bring the lab to N running nodes + etcd; running nodes are kept. */
export async function labUp(opts: LabUpOptions): Promise<LabState> {
  const log = opts.log ?? (() => {});
  const n = opts.nodes ?? DEFAULT_NODES;
  if (!Number.isInteger(n) || n < 1 || n > MAX_NODES) throw new UsageError(`--nodes ${n}: expected 1..${MAX_NODES}`);
  checkRoot();
  const dir = claimLabDir(opts.dir);
  const tarball = chooseTarball({ release: opts.release, flannelTarball: opts.flannelTarball, resolvePath: (p) => resolve(p) });
  const kind: LabInit = opts.init ?? 'supervisord';
  if (!['supervisord', 'systemd'].includes(kind)) throw new UsageError(`--init ${kind}: expected supervisord or systemd`);
  await ensurePackages(!!opts.installDeps, log, kind === 'systemd' ? NSPAWN_TOOLS : {});
  if (opts.fresh && readState(dir)) {
    log('--fresh: removing the existing lab');
    await labDown({ dir, purge: true, keepRootfs: !opts.rebuildRootfs });
  }
  const state = readState(claimLabDir(dir)) ?? emptyState(dir);
  state.dir = dir;
  state.init = kind;
  if (kind === 'systemd') {
    const rootfs = opts.rootfs ? resolve(opts.rootfs) : state.rootfs ?? defaultRootfs(dir);
    if (opts.rebuildRootfs) await Promise.all(state.nodes.filter((s) => s.system === 'systemd').map((s) => stopNode(s)));
    state.rootfs = rootfs;
    saveState(state);
    await ensureRootfs(rootfs, { rebuild: opts.rebuildRootfs, log });
  }

  const names = await ensureIndex(state, log);
  await configureBridge(names);
  await ensureNodesFilesystem(state);
  const wanted = Array.from({ length: n }, (_, i) => nodeNames(names.index, i + 1));

  // etcd (CA, certs, process) and the nodes (keys, namespaces, inits) come up side by side.
  const etcdReady = (async () => {
    const tls = await ensureLabTls(dir, names);
    if (!state.etcd || state.etcd.endpoint !== names.etcdClientUrl) {
      await stopEtcd(state.etcd?.pid);
      rmSync(join(etcdDir(dir), 'data'), { recursive: true, force: true }); // its member URLs were for another index
      state.etcd = { endpoint: names.etcdClientUrl, dataDir: join(etcdDir(dir), 'data') };
    }
    if (!isAlive(state.etcd.pid)) {
      state.etcd.pid = spawnEtcd(dir, names, tls);
      saveState(state);
      log(`etcd: started (pid ${state.etcd.pid.pid}) on ${names.etcdClientUrl}`);
    }
    await waitEtcdHealthy(dir, names.etcdClientUrl, tls, state.etcd.pid);
  })().then(() => undefined, (e: unknown) => e ?? new Error('etcd failed'));

  try {
    await ensureKeys(dir, wanted.map((w) => w.name));
  } catch (err) {
    await etcdReady; // recorded in state.json either way, for lab down
    throw err;
  }
  // Nodes beyond N are removed (the lab is declarative).
  const surplus = state.nodes.filter((s) => (nodeNumber(s.name) ?? Infinity) > n);
  for (const s of surplus) {
    await stopNode(s);
    await deleteNodeNetwork(s);
    rmSync(nodeDir(dir, s.name), { recursive: true, force: true });
    state.nodes = state.nodes.filter((x) => x !== s);
    saveState(state);
    log(`${s.name}: removed`);
  }

  const results = await mapLimit(wanted, 16, async (w) => {
    let node = state.nodes.find((s) => s.name === w.name);
    if (!node) {
      node = { ...w };
      state.nodes.push(node);
      state.nodes.sort((a, b) => (nodeNumber(a.name) ?? 0) - (nodeNumber(b.name) ?? 0));
      saveState(state);
    }
    if (nodeUp(node) && nodeInitKind(node) === kind) {
      const restarted = await reviveServices(node);
      log(`${node.name}: running (pid ${(node.launcher ?? node.init)?.pid})${restarted.length ? `, restarted ${restarted.join(', ')}` : ''}`);
    } else {
      await startNode(dir, names, node, kind, state.rootfs);
      saveState(state);
      log(`${node.name}: started ${kind} (pid ${(node.launcher ?? node.init)?.pid}) at ${node.ip}`);
    }
    await waitReady(dir, node);
    await writeStandinEnv(node, !!opts.watchBug, opts.watchBugGapMs);
  });
  const etcdResult = await etcdReady;
  const failures = results.flatMap((r, i) => (r.ok ? [] : [`${wanted[i].name}: ${errorMessage(r.error)}`]));
  if (etcdResult) failures.unshift(`etcd: ${errorMessage(etcdResult)}`);
  saveState(state);
  if (failures.length) {
    throw new FlanctlError(`lab up failed:\n  ${failures.join('\n  ')}`, { hint: `Clean up with \`flanctl lab down --dir ${dir}\`.` });
  }

  writeKnownHosts(dir, state.nodes);
  state.inventory = writeLabInventory(dir, names, state.nodes, tarball, kind);
  state.flannelTarball = tarball;
  state.watchBug = !!opts.watchBug;
  if (opts.watchBug && opts.watchBugGapMs) state.watchBugGapMs = opts.watchBugGapMs;
  else delete state.watchBugGapMs;
  if (!existsSync(tarball)) log(`warning: ${tarball} does not exist yet (build it with \`npm run build\`)`);
  saveState(state);
  return state;
}

/** The stand-in's settings file inside the node: the watch bug on, or no file. */
async function writeStandinEnv(node: NodeState, watchBug: boolean, gapMs?: number): Promise<void> {
  const text = standinEnvText(watchBug, gapMs);
  const argv = text === undefined
    ? ['rm', '-f', STANDIN_ENV_FILE]
    : ['sh', '-c', 't=$(mktemp "$1.XXXXXX") && cat > "$t" && chmod 0644 "$t" && mv -f "$t" "$1"', 'sh', STANDIN_ENV_FILE];
  const r = await sh([...nsenterPrefix(node.init!.pid), ...argv], { input: text });
  if (r.code !== 0) throw new FlanctlError(`${node.name}: cannot write ${STANDIN_ENV_FILE}: ${r.stderr.trim()}`);
}

/** Reuse the recorded lab index while its bridge exists; else tear down what is left and claim one. */
async function ensureIndex(state: LabState, log: (line: string) => void): Promise<LabNames> {
  if (state.index !== undefined && state.bridge && bridgeExists(state.bridge)) return labNames(state.index);
  const previous = state.index ?? state.lastIndex;
  if (state.nodes.length || state.etcd?.pid) {
    log('the lab bridge is gone: removing what is left of the previous lab');
    await teardown(state);
  }
  const names = await claimBridge(previous);
  Object.assign(state, { index: names.index, bridge: names.bridge, hostIp: names.hostIp, subnet: names.subnet });
  saveState(state);
  log(`bridge ${names.bridge}: ${names.hostIp}/${names.prefixLen}`);
  return names;
}

/** Stop and delete everything recorded in state (processes by PID, namespaces, links, mounts). */
async function teardown(state: LabState): Promise<string[]> {
  const done: string[] = [];
  const stops = await mapLimit(state.nodes, 32, async (node) => {
    await stopNode(node);
    await deleteNodeNetwork(node);
    done.push(node.name);
  });
  await stopEtcd(state.etcd?.pid);
  if (state.etcd) state.etcd.pid = undefined;
  state.nodes = state.nodes.filter((_, i) => !stops[i].ok);
  saveState(state);
  if (state.bridge) {
    await deleteBridge(state.bridge);
    done.push(state.bridge);
  }
  for (const m of [...state.mounts]) {
    const r = await sh(['umount', m]);
    if (r.code !== 0 && (await sh(['mountpoint', '-q', m])).code === 0) await sh(['umount', '-l', m]);
    state.mounts = state.mounts.filter((x) => x !== m);
    done.push(m);
  }
  state.lastIndex = state.index ?? state.lastIndex;
  state.index = undefined;
  state.bridge = undefined;
  saveState(state);
  const failed = stops.flatMap((r, i) => (r.ok ? [] : [`${state.nodes[i]?.name ?? '?'}: ${errorMessage(r.error)}`]));
  if (failed.length) throw new FlanctlError(`lab down: could not remove every node:\n  ${failed.join('\n  ')}`);
  return done;
}

/** Stop everything the lab recorded; with purge also delete DIR. Twice is fine. */
export async function labDown(opts: { dir: string; purge?: boolean; keepRootfs?: boolean; log?: (line: string) => void }): Promise<{ dir: string; removed: string[]; purged: boolean }> {
  checkRoot();
  const dir = labDir(opts.dir);
  if (existsSync(dir)) checkOwner(dir);
  const state = readState(dir); // every value checked against the lab's own names before anything is done
  const removed = state ? await teardown(state) : [];
  for (const r of removed) opts.log?.(`removed ${r}`);
  if (opts.purge && existsSync(dir)) {
    // Only the lab's own entries go (the systemd nodes' rootfs too, unless kept for --fresh; a shared
    // --rootfs outside DIR is never touched); anything else in DIR stays, and so does DIR then.
    if (!state && foreignEntries(dir).length) throw new UsageError(`--dir ${dir}: not a lab dir (no state.json, and it holds other files); not deleting anything`);
    const { deleted, kept } = purgeLabDir(dir, opts.keepRootfs ? ['rootfs'] : []);
    opts.log?.(deleted ? `deleted ${dir}` : `deleted the lab's files in ${dir}; kept ${dir} (it also holds ${kept.join(', ')})`);
    if (state?.rootfs && !state.rootfs.startsWith(`${dir}/`)) opts.log?.(`kept the shared rootfs ${state.rootfs}`);
    return { dir, removed, purged: true };
  }
  if (state) {
    state.etcd = state.etcd && { ...state.etcd, pid: undefined };
    saveState(state);
  }
  return { dir, removed, purged: false };
}

export const labInventoryPath = (dir: string) => inventoryFile(labDir(dir));

function runningNode(dir: string, nodeName: string): NodeState & { init: { pid: number; start: number } } {
  const state = readState(labDir(dir));
  if (!state) throw new UsageError(`no lab in ${labDir(dir)} (run \`flanctl lab up\`)`);
  const node = state.nodes.find((n) => n.name === nodeName);
  if (!node) throw new UsageError(`no node ${nodeName} in the lab (nodes: ${state.nodes.map((n) => n.name).join(', ') || 'none'})`);
  const init = nodeUp(node) ? currentInit(node) : undefined;
  if (!init) throw new FlanctlError(`${nodeName} is not running${nodeUp(node) ? ' (it is rebooting)' : ' (run `flanctl lab up`)'}`);
  return { ...node, init };
}

/** The argv prefix that enters a running node (for localConnector({prefix})). */
export function labNodePrefix(dir: string, nodeName: string): string[] {
  return nsenterPrefix(runningNode(dir, nodeName).init.pid);
}

/** Run argv inside a node without SSH. `inherit` passes stdio through (the CLI); else output is captured. */
export async function labExec(dir: string, nodeName: string, argv: string[], opts: { inherit?: boolean; input?: string } = {}): Promise<RunResult> {
  if (!argv.length) throw new UsageError('no command given (usage: flanctl lab exec <node> -- <cmd…>)');
  const full = [...labNodePrefix(dir, nodeName), ...argv];
  if (!opts.inherit) return sh(full, { input: opts.input, timeoutMs: 600_000 });
  return new Promise((resolvePromise) => {
    const child = spawn(full[0], full.slice(1), { stdio: 'inherit', cwd: '/' });
    child.on('error', (e) => resolvePromise({ code: 127, stdout: '', stderr: e.message }));
    child.on('close', (code, signal) => resolvePromise({ code: code ?? (signal ? 128 : 1), stdout: '', stderr: '' }));
  });
}
