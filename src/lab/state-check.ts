/**
 * state.json is read back and acted on as root (kill, ip link del, umount): every value in it is
 * checked against what this lab itself would have written (issue 12) before anything is done. A value
 * that does not fit is an error naming the field; nothing is acted on.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { isBelow } from './labdir.js';
import { MAX_INDEX, labNames, nodeNames, nodeNumber } from './names.js';
import { isAlive, type ProcId } from './proc.js';

/** rootfs.ts's stamp file (not imported: rootfs.ts pulls in deps.ts and proc.ts). */
const ROOTFS_STAMP = '.flanlab-rootfs.json';

/** The fields checked here (state.ts's LabState; not imported, to keep state.ts → state-check.ts one-way). */
interface Checked {
  version: number;
  dir: string;
  index?: number;
  lastIndex?: number;
  bridge?: string;
  etcd?: { pid?: ProcId; endpoint: string; dataDir: string };
  mounts: string[];
  nodes: { name: string; ip: string; netns: string; veth: string; init?: ProcId; unshare?: ProcId; launcher?: ProcId; system?: string }[];
  init?: string;
  rootfs?: string;
}

const isIndex = (k: unknown) => k === undefined || (Number.isInteger(k) && (k as number) >= 1 && (k as number) <= MAX_INDEX);

/** The argv of a live process ([] when unreadable). */
export function procArgv(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

/** A recorded process that is still alive must be the lab's own: its command line names `mark`. */
function checkProc(p: unknown, field: string, mark: string, bad: (f: string, why: string) => never): ProcId | undefined {
  if (p === undefined || p === null) return undefined;
  const id = p as ProcId;
  if (!Number.isInteger(id.pid) || id.pid < 2 || !Number.isInteger(id.start) || id.start < 0) bad(field, `not a recorded process (${JSON.stringify(p)})`);
  if (isAlive(id) && !procArgv(id.pid).some((a) => a === mark || a.startsWith(`${mark}/`) || a.startsWith(`--data-dir=${mark}`))) {
    bad(field, `PID ${id.pid} is alive but is not this lab's process (its command line does not name ${mark})`);
  }
  return id;
}

/** Check a parsed state.json against the lab's naming patterns; `dir` is the lab's real path. */
export function checkState<T>(raw: unknown, dir: string, file: string): T {
  const bad = (field: string, why: string): never => {
    throw new UsageError(`${file}: ${field}: ${why}; refusing to act on it`, { hint: 'state.json is not what flanctl lab wrote. Inspect it, clean up by hand, and remove it.' });
  };
  if (!raw || typeof raw !== 'object') bad('(file)', 'not a JSON object');
  const s = raw as Checked;
  if (s.version !== 1) bad('version', `expected 1, found ${JSON.stringify(s.version)}`);
  if (!isIndex(s.index)) bad('index', `expected 1..${MAX_INDEX}`);
  if (!isIndex(s.lastIndex)) bad('lastIndex', `expected 1..${MAX_INDEX}`);
  if (s.bridge !== undefined && (s.index === undefined || s.bridge !== labNames(s.index).bridge)) bad('bridge', `${JSON.stringify(s.bridge)} is not this lab's bridge flanlab<index>`);
  if (!Array.isArray(s.nodes)) bad('nodes', 'not a list');
  if (!Array.isArray(s.mounts)) bad('mounts', 'not a list');
  s.mounts.forEach((m, i) => {
    if (m !== join(dir, 'nodes') && !isBelow(m, dir)) bad(`mounts[${i}]`, `${JSON.stringify(m)} is not below the lab dir ${dir}`);
  });
  s.nodes.forEach((n, i) => {
    const num = nodeNumber(n?.name);
    if (num === undefined) bad(`nodes[${i}].name`, `${JSON.stringify(n?.name)} is not a lab node name (node<i>)`);
    const k = Number(/^flanlab-(\d+)-node\d+$/.exec(String(n.netns))?.[1]);
    const want = isIndex(k) && k > 0 ? nodeNames(k, num as number) : undefined;
    for (const f of ['netns', 'veth', 'ip'] as const) {
      if (!want || n[f] !== want[f]) bad(`nodes[${i}].${f}`, `${JSON.stringify(n[f])} is not the lab's ${f} for ${n.name}`);
    }
    const mark = join(dir, 'nodes', n.name);
    // A systemd node's PID 1 is the container's systemd (its argv names nothing of ours): never acted on
    // from state.json; it is found again from the launcher, whose argv is checked below.
    n.init = n.system === 'systemd' ? undefined : checkProc(n.init, `nodes[${i}].init`, mark, bad);
    n.unshare = checkProc(n.unshare, `nodes[${i}].unshare`, mark, bad);
    n.launcher = checkProc(n.launcher, `nodes[${i}].launcher`, mark, bad); // its argv names the node dir
    if (n.system !== undefined && n.system !== 'systemd') bad(`nodes[${i}].system`, `${JSON.stringify(n.system)} is not systemd`);
  });
  if (s.init !== undefined && s.init !== 'systemd' && s.init !== 'supervisord') bad('init', `${JSON.stringify(s.init)} is not supervisord or systemd`);
  // The rootfs is renamed and deleted on --rebuild-rootfs: an absolute, normalised path that is either
  // absent or a rootfs this lab built (it holds the stamp file).
  if (s.rootfs !== undefined) {
    const r = s.rootfs;
    if (typeof r !== 'string' || resolve(r) !== r || r === '/' || (existsSync(r) && !existsSync(join(r, ROOTFS_STAMP)))) {
      bad('rootfs', `${JSON.stringify(r)} is not an absolute path to a lab rootfs`);
    }
  }
  if (s.etcd !== undefined) {
    const dataDir = join(dir, 'etcd', 'data');
    if (s.etcd.dataDir !== dataDir) bad('etcd.dataDir', `${JSON.stringify(s.etcd.dataDir)} is not ${dataDir}`);
    if (!/^https:\/\/10\.77\.\d{1,3}\.1:2379$/.test(String(s.etcd.endpoint))) bad('etcd.endpoint', `${JSON.stringify(s.etcd.endpoint)} is not a lab etcd URL`);
    s.etcd.pid = checkProc(s.etcd.pid, 'etcd.pid', dataDir, bad);
  }
  s.dir = dir; // never where the file says: state.json is written back into the real lab dir only
  return s as T;
}
