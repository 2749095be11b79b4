/**
 * What a release tarball holds (each member's size and sha256), remembered on the control machine so a
 * run need not gunzip 12 MB into 40 MB just to learn flanneld's digest: the checks compare digests, and
 * the bytes are read only when a node needs the upload. An entry counts only while the file is the one
 * it was made for: same device, inode, size, mtime and ctime (nanoseconds), the way git's index trusts
 * a file (ctime changes on any write, rename or chmod and cannot be set back by a user).
 *
 * Where: flanctl's cache directory, as oclif finds it ($FLANCTL_CACHE_DIR, else $XDG_CACHE_HOME/flanctl,
 * else ~/.cache/flanctl), or $FLANCTL_TARBALL_CACHE (a directory; "off" turns the cache off). The
 * directory is 0700, the file 0600, written atomically. Any trouble reading or writing it only means
 * the tarball is read in full, as without a cache.
 */
import { mkdirSync, readFileSync, realpathSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface MemberDigest {
  size: number;
  sha256: string;
}

export interface TarballDigests {
  flanneld: MemberDigest;
  mkDockerOpts?: MemberDigest;
}

const FILE = 'tarballs.json';
/** Entries kept (the most recently written): a few releases and the lab's stand-ins. */
const MAX_ENTRIES = 32;

export function cacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.FLANCTL_TARBALL_CACHE === 'off') return undefined;
  if (env.FLANCTL_TARBALL_CACHE) return env.FLANCTL_TARBALL_CACHE;
  // oclif's own variable for flanctl's cache directory (shell completion lives there too).
  if (env.FLANCTL_CACHE_DIR) return env.FLANCTL_CACHE_DIR;
  const base = env.XDG_CACHE_HOME || (homedir() ? join(homedir(), '.cache') : undefined);
  return base ? join(base, 'flanctl') : undefined;
}

/** The identity an entry is valid for; undefined when the file cannot be stat'ed. */
function identity(file: string): { path: string; id: string } | undefined {
  try {
    const path = realpathSync(file);
    const st = statSync(path, { bigint: true });
    return { path, id: [st.dev, st.ino, st.size, st.mtimeNs, st.ctimeNs].join(':') };
  } catch {
    return undefined;
  }
}

type Entries = Record<string, { id: string; at: number; digests: TarballDigests }>;

function readEntries(dir: string): Entries {
  try {
    const parsed = JSON.parse(readFileSync(join(dir, FILE), 'utf8')) as unknown;
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Entries) : {};
  } catch {
    return {};
  }
}

const validDigest = (d: unknown): d is MemberDigest =>
  !!d && typeof d === 'object' && Number.isSafeInteger((d as MemberDigest).size) && /^[0-9a-f]{64}$/.test(String((d as MemberDigest).sha256));

/** The digests remembered for this very file, or undefined. */
export function cachedDigests(file: string, env: NodeJS.ProcessEnv = process.env): TarballDigests | undefined {
  const dir = cacheDir(env);
  const me = identity(file);
  if (!dir || !me) return undefined;
  const e = readEntries(dir)[me.path];
  if (!e || e.id !== me.id || !validDigest(e.digests?.flanneld)) return undefined;
  if (e.digests.mkDockerOpts !== undefined && !validDigest(e.digests.mkDockerOpts)) return undefined;
  return e.digests;
}

/** Remember what `file` holds (best effort: a read-only home only costs the next run a full read). */
export function rememberDigests(file: string, digests: TarballDigests, env: NodeJS.ProcessEnv = process.env): void {
  const dir = cacheDir(env);
  const me = identity(file);
  if (!dir || !me) return;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const entries = readEntries(dir);
    entries[me.path] = { id: me.id, at: Date.now(), digests };
    const kept = Object.entries(entries).sort((a, b) => b[1].at - a[1].at).slice(0, MAX_ENTRIES);
    const tmp = join(dir, `.${FILE}.${process.pid}`);
    writeFileSync(tmp, `${JSON.stringify(Object.fromEntries(kept), null, 1)}\n`, { mode: 0o600 });
    renameSync(tmp, join(dir, FILE));
  } catch {
    /* not cached: nothing else depends on it */
  }
}
