/**
 * DIR/state.json: everything a lab created (PIDs with start times, namespaces, links, mounts), written
 * before and after each change so `lab down` can remove exactly that, also after a crash mid-way.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import type { ProcId } from './proc.js';
import { checkState } from './state-check.js';

export interface NodeState {
  name: string;
  ip: string;
  netns: string;
  veth: string;
  /** The node's init (PID 1 inside the node), as seen from the host. */
  init?: ProcId;
  /** The `unshare` process that forked the init. */
  unshare?: ProcId;
  /** SHA256 fingerprint and public line of the node's sshd host key. */
  hostKey?: string;
  /** 'systemd': booted by systemd-nspawn (src/lab/nspawn.ts); absent: the supervisord init. */
  system?: 'systemd';
  /** systemd nodes: the launcher that boots the node (again after a reboot); `init` is refreshed from it. */
  launcher?: ProcId;
}

export type LabInit = 'supervisord' | 'systemd';
export const nodeInitKind = (n: NodeState): LabInit => (n.system === 'systemd' ? 'systemd' : 'supervisord');

export interface LabState {
  version: 1;
  dir: string;
  index?: number;
  /** The index of this lab before `lab down` (reused by the next `lab up` when still free). */
  lastIndex?: number;
  bridge?: string;
  hostIp?: string;
  subnet?: string;
  etcd?: { pid?: ProcId; endpoint: string; dataDir: string };
  /** Host mount points the lab made (e.g. a tmpfs under DIR when DIR is on overlayfs). */
  mounts: string[];
  nodes: NodeState[];
  inventory?: string;
  flannelTarball?: string;
  /** The nodes' init (default supervisord) and, for systemd, the rootfs they boot. */
  init?: LabInit;
  rootfs?: string;
  /** The stand-in's watch bug switched on in the nodes (`lab up --watch-bug`). */
  watchBug?: boolean;
  /** `lab up --watch-bug-gap`: ms the stand-in waits before each new etcd watch. */
  watchBugGapMs?: number;
  createdAt: string;
  updatedAt?: string;
}

export const stateFile = (dir: string) => join(dir, 'state.json');

/** The lab's state, every value checked against the lab's own names and dir (state-check.ts). */
export function readState(dir: string): LabState | undefined {
  const file = stateFile(dir);
  if (!existsSync(file)) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`${file}: not valid JSON (${(err as Error).message}); refusing to act on it`);
  }
  return checkState<LabState>(raw, dir, file);
}

export function emptyState(dir: string): LabState {
  return { version: 1, dir, mounts: [], nodes: [], createdAt: new Date().toISOString() };
}

/** Atomic write (temp file + rename). Synchronous on purpose: parallel node starts never interleave. */
export function saveState(state: LabState): void {
  mkdirSync(state.dir, { recursive: true });
  state.updatedAt = new Date().toISOString();
  const file = stateFile(state.dir);
  // A new file of a random name (exclusive create, never through a planted symlink), then rename.
  const tmp = join(state.dir, `.state.json.${randomBytes(6).toString('hex')}.tmp`);
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o644, flag: 'wx' });
  renameSync(tmp, file);
}

export function removeState(dir: string): void {
  rmSync(stateFile(dir), { force: true });
}

/** `lab up --json`: where the lab is and what runs in it. */
export function labUpSummary(state: LabState, seconds: number) {
  return {
    dir: state.dir,
    index: state.index,
    bridge: state.bridge,
    subnet: state.subnet,
    etcd: state.etcd?.endpoint,
    inventory: state.inventory,
    flannelTarball: state.flannelTarball,
    init: state.init ?? 'supervisord',
    rootfs: state.rootfs,
    nodes: state.nodes.map((n) => ({ name: n.name, ip: n.ip, netns: n.netns, pid: n.init?.pid, init: n.system ?? 'supervisord' })),
    watchBug: state.watchBug,
    ...(state.watchBugGapMs ? { watchBugGapMs: state.watchBugGapMs } : {}),
    seconds,
  };
}
