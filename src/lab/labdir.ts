/**
 * The lab dir is acted on as root (issue 12): it must be the real path of a new or empty directory,
 * or one holding only a lab's own entries, owned by root and writable by nobody else; `lab down --purge`
 * deletes only those entries, never the directory's other contents.
 */
import { existsSync, lstatSync, mkdirSync, readdirSync, realpathSync, rmSync, rmdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { UsageError } from '../errors.js';

/** Everything a lab creates directly in its dir (and their temp files `.state.json.<hex>.tmp`, `inventory.yaml.<hex>.tmp`). */
export const LAB_ENTRIES = ['nodes', 'ssh', 'pki', 'etcd', 'rootfs', 'inventory.yaml', 'inventory.yaml.tmp', 'state.json', 'state.json.tmp'];
const isLabEntry = (name: string) =>
  LAB_ENTRIES.includes(name) || /^\.?(state\.json|inventory\.yaml)\.[0-9a-f]+\.tmp$/.test(name) || /^rootfs\.(build|old)-\d+$/.test(name);

const FORBIDDEN_PARENTS = ['/etc', '/usr', '/var', '/proc', '/sys', '/dev', '/boot', '/run', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];

/** The real path of dir (symlinks resolved), also when its last components do not exist yet. */
export function realPath(dir: string): string {
  const abs = resolve(dir);
  let existing = abs;
  const rest: string[] = [];
  while (!existsSync(existing) && dirname(existing) !== existing) {
    rest.unshift(basename(existing));
    existing = dirname(existing);
  }
  return join(realpathSync(existing), ...rest);
}

/** The lab dir's real path; refuses / and system trees (nodes overlay /etc, /usr and /var). */
export function labDir(dir: string): string {
  const real = realPath(dir);
  if (real === '/' || FORBIDDEN_PARENTS.some((p) => real === p || real.startsWith(`${p}/`))) {
    throw new UsageError(`--dir ${resolve(dir)}${real !== resolve(dir) ? ` (really ${real})` : ''}: the lab dir cannot be / or under ${FORBIDDEN_PARENTS.join(', ')}`);
  }
  return real;
}

/** Entries of dir that a lab did not create. */
export function foreignEntries(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((e) => !isLabEntry(e)) : [];
}

/** Root-owned and writable by root only: otherwise another user could plant what root then acts on. */
export function checkOwner(dir: string): void {
  const st = lstatSync(dir);
  if (!st.isDirectory()) throw new UsageError(`--dir ${dir}: not a directory`);
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  if (st.uid !== uid) throw new UsageError(`--dir ${dir}: owned by uid ${st.uid}, not by root; the lab acts on its contents as root`);
  if (st.mode & 0o022) {
    throw new UsageError(`--dir ${dir}: writable by group or others (mode ${(st.mode & 0o7777).toString(8)}); the lab acts on its contents as root`);
  }
}

/** For `lab up`: create the dir (0755) or accept an existing one that is empty or holds only a lab. */
export function claimLabDir(dir: string): string {
  const real = labDir(dir);
  mkdirSync(real, { recursive: true, mode: 0o755 });
  const again = labDir(real); // a symlink planted meanwhile shows here
  if (again !== real) throw new UsageError(`--dir ${dir}: its real path changed while it was created (${real} → ${again})`);
  checkOwner(real);
  const foreign = foreignEntries(real);
  if (foreign.length) {
    throw new UsageError(`--dir ${real}: holds files that are not a lab's (${foreign.slice(0, 5).join(', ')}${foreign.length > 5 ? ', …' : ''}); use a new or empty directory`);
  }
  return real;
}

/** For `lab down --purge`: delete the lab's own entries; the dir itself only when nothing else is left. */
export function purgeLabDir(dir: string, keep: string[] = []): { deleted: boolean; kept: string[] } {
  if (!existsSync(dir)) return { deleted: false, kept: [] };
  checkOwner(dir);
  for (const e of readdirSync(dir).filter((e) => isLabEntry(e) && !keep.includes(e))) rmSync(join(dir, e), { recursive: true, force: true });
  const kept = [...foreignEntries(dir), ...keep.filter((e) => existsSync(join(dir, e)))];
  if (kept.length) return { deleted: false, kept };
  rmdirSync(dir);
  return { deleted: true, kept };
}

/** True when p (a path from state.json) lies strictly below dir, also after resolving symlinks. */
export function isBelow(p: string, dir: string): boolean {
  if (typeof p !== 'string' || resolve(p) !== p || !p.startsWith(`${dir}/`)) return false;
  try {
    return realpathSync(p).startsWith(`${dir}/`);
  } catch {
    return !existsSync(p); // gone: nothing to unmount there
  }
}
