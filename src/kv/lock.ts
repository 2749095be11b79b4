/**
 * The cluster lock (issue 10): one key under the etcd prefix, bound to a TTL (v3 lease / v2 TTL key),
 * holding who/where/which command/pid/since. Commands that change hosts or etcd take it, renew it
 * while they run, release it at the end and on interrupt; a holder that dies frees it when the TTL
 * runs out, or at once with `flanctl unlock --force`. Operators run flanctl from several machines,
 * so the lock lives in etcd, not in a local file. Read-only commands only read it (lockNotice).
 */
import { hostname, userInfo } from 'node:os';
import { FlanctlError, errorMessage } from '../errors.js';
import type { Kv, KvLease } from './kv.js';

export const LOCK_TTL_SECONDS = 30;

export interface LockHolder {
  command: string;
  user: string;
  host: string;
  pid: number;
  /** ISO time the lock was taken. */
  since: string;
}

export const lockKey = (prefix: string) => `${prefix.replace(/\/$/, '')}/flanctl/lock`;

export class LockError extends FlanctlError {}

export function describeHolder(h: LockHolder): string {
  const t = new Date(h.since);
  const since = Number.isNaN(t.getTime()) ? h.since : `${t.toISOString().slice(11, 19)} UTC`;
  return `${h.command} by ${h.user}@${h.host}, pid ${h.pid}, since ${since}`;
}

export function parseHolder(value: string | undefined): LockHolder | undefined {
  if (value === undefined) return undefined;
  try {
    const h = JSON.parse(value) as Partial<LockHolder>;
    return { command: String(h.command ?? '?'), user: String(h.user ?? '?'), host: String(h.host ?? '?'), pid: Number(h.pid ?? 0), since: String(h.since ?? '?') };
  } catch {
    return { command: '?', user: '?', host: '?', pid: 0, since: '?' };
  }
}

export function thisProcess(command: string): LockHolder {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    /* no passwd entry */
  }
  return { command, user, host: hostname(), pid: process.pid, since: new Date().toISOString() };
}

/** A holder on this machine whose process is gone (SIGKILL, crash): its lock is stale. */
function deadHereBefore(h: LockHolder): boolean {
  if (h.host !== hostname() || !(h.pid > 0) || h.pid === process.pid) return false;
  try {
    process.kill(h.pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

export interface ClusterLock {
  readonly holder: LockHolder;
  /** Stop renewing and delete the key (idempotent; errors are swallowed: the TTL frees it anyway). */
  release(): Promise<void>;
}

export interface LockOptions {
  /** How long to wait for another holder to finish (--wait-lock); 0 = fail at once. */
  waitMs?: number;
  ttlSeconds?: number;
  log?: (line: string) => void;
  sleep?: (ms: number) => Promise<void>;
}

const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function acquireClusterLock(kv: Kv, prefix: string, command: string, opts: LockOptions = {}): Promise<ClusterLock> {
  if (!kv.createLeased) throw new FlanctlError(`the ${kv.api} etcd client cannot take the cluster lock`);
  const key = lockKey(prefix);
  const ttl = opts.ttlSeconds ?? LOCK_TTL_SECONDS;
  const sleep = opts.sleep ?? pause;
  const deadline = Date.now() + (opts.waitMs ?? 0);
  const holder = thisProcess(command);
  let said = false;
  for (;;) {
    const lease = await kv.createLeased(key, JSON.stringify(holder), ttl);
    if (lease) return held(key, holder, lease, ttl, opts.log);
    const other = parseHolder(await kv.get(key));
    if (!other) continue; // released between the two calls
    if (deadHereBefore(other)) {
      opts.log?.(`note: taking over the cluster lock of ${describeHolder(other)}: that process no longer exists`);
      await kv.delete(key);
      continue;
    }
    const what = `another flanctl (${describeHolder(other)}) holds the cluster lock`;
    if (Date.now() >= deadline) {
      throw new LockError(what, {
        hint: `Wait for it to finish, or pass --wait-lock 5m. If its process died: \`flanctl unlock --force\` (the lock also frees itself ${ttl} s after its holder stops).`,
      });
    }
    if (!said) opts.log?.(`${what}; waiting up to ${Math.ceil((deadline - Date.now()) / 1000)} s (--wait-lock)`);
    said = true;
    await sleep(Math.min(1000, Math.max(0, deadline - Date.now())));
  }
}

function held(key: string, holder: LockHolder, lease: KvLease, ttl: number, log?: (line: string) => void): ClusterLock {
  let released = false;
  let warned = false;
  const timer = setInterval(() => {
    lease.renew().catch((e) => {
      if (!warned && !released) log?.(`warning: could not renew the cluster lock ${key}: ${errorMessage(e).split('\n')[0]}`);
      warned = true;
    });
  }, Math.max(1000, (ttl * 1000) / 3));
  timer.unref?.();
  return {
    holder,
    async release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      await lease.release().catch(() => {});
    },
  };
}

/** For read-only commands: "a change is in progress: …" when someone holds the lock, else undefined. Never throws. */
export async function lockNotice(kv: Kv, prefix: string): Promise<string | undefined> {
  const h = parseHolder(await kv.get(lockKey(prefix)).catch(() => undefined));
  return h ? `note: a change is in progress (${describeHolder(h)}); what you see may change under you` : undefined;
}

/** `flanctl unlock --force`: delete the lock key whoever holds it; the holder it names, if any. */
export async function forceUnlock(kv: Kv, prefix: string): Promise<LockHolder | undefined> {
  const key = lockKey(prefix);
  const h = parseHolder(await kv.get(key));
  if (h) await kv.delete(key);
  return h;
}

/** --wait-lock DURATION: "90", "90s", "5m", "1h" → ms. */
export function parseDuration(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!m) return undefined;
  const n = Number(m[1]);
  return Math.round(n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h']);
}
