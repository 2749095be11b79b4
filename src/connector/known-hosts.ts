/**
 * SSH host key trust (DESIGN.md §4 "Secure"): OpenSSH known_hosts parsing (plain patterns,
 * wildcards, negation, `[host]:port`, hashed `|1|salt|hash` entries, @revoked / @cert-authority
 * markers), SHA256 fingerprints, and the verifier ssh2 calls during the handshake.
 * Unknown host → HostKeyError with the fingerprint, unless --trust-new-hosts records it.
 * A changed key is always refused. A fingerprint pinned on the node wins over the file.
 */
import { createHash, createHmac } from 'node:crypto';
import { appendFile, mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { HostKeyError } from '../errors.js';

export interface KnownHostEntry {
  line: number;
  marker?: 'revoked' | 'cert-authority';
  hosts: { kind: 'plain'; patterns: string[] } | { kind: 'hashed'; salt: Buffer; hash: Buffer };
  keyType: string;
  key: Buffer;
}

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const fields = line.split(/\s+/);
    let marker: KnownHostEntry['marker'];
    if (fields[0].startsWith('@')) {
      const m = fields.shift()!.slice(1);
      if (m !== 'revoked' && m !== 'cert-authority') return;
      marker = m;
    }
    const [hostField, keyType, keyB64] = fields;
    if (!hostField || !keyType || !keyB64 || !/^[A-Za-z0-9+/]+={0,2}$/.test(keyB64)) return;
    const key = Buffer.from(keyB64, 'base64');
    if (keyTypeOfBlob(key) !== keyType) return; // malformed or mismatched line: ignore as OpenSSH does
    let hosts: KnownHostEntry['hosts'];
    if (hostField.startsWith('|1|')) {
      const [, , salt, hash] = hostField.split('|');
      if (!salt || !hash) return;
      hosts = { kind: 'hashed', salt: Buffer.from(salt, 'base64'), hash: Buffer.from(hash, 'base64') };
    } else {
      hosts = { kind: 'plain', patterns: hostField.split(',') };
    }
    entries.push({ line: i + 1, marker, hosts, keyType, key });
  });
  return entries;
}

/** The name known_hosts uses for host:port ("host" for port 22, else "[host]:port"). */
export function knownHostName(host: string, port: number): string {
  const h = host.toLowerCase();
  return port === 22 ? h : `[${h}]:${port}`;
}

function globMatch(pattern: string, text: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return re.test(text);
}

export function entryMatchesHost(entry: KnownHostEntry, name: string): boolean {
  if (entry.hosts.kind === 'hashed') {
    const digest = createHmac('sha1', entry.hosts.salt).update(name).digest();
    return digest.equals(entry.hosts.hash);
  }
  let matched = false;
  for (const p of entry.hosts.patterns) {
    if (p.startsWith('!')) {
      if (globMatch(p.slice(1), name)) return false;
    } else if (globMatch(p, name)) matched = true;
  }
  return matched;
}

export function keyTypeOfBlob(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const len = blob.readUInt32BE(0);
  if (len > 64 || 4 + len > blob.length) return undefined;
  return blob.subarray(4, 4 + len).toString('latin1');
}

/** "SHA256:<base64 without padding>" exactly as `ssh-keygen -lf` prints it. */
export function fingerprintSha256(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** ssh2 server host key algorithms for a key type. */
export function algorithmsForKeyType(keyType: string): string[] {
  return keyType === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [keyType];
}

const DEFAULT_HOST_KEY_ALGORITHMS = [
  'ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa',
];

export interface HostTrustOptions {
  /** Node name for messages. */
  label: string;
  host: string;
  port: number;
  knownHostsFile: string;
  pinnedFingerprint?: string;
  trustNewHosts?: boolean;
  /** Where a key recorded by --trust-new-hosts is announced (type and SHA256 fingerprint); default stderr. */
  log?: (line: string) => void;
}

export interface HostVerifier {
  /** Host key algorithms to offer, the ones known for this host first (as OpenSSH orders them). */
  algorithms: string[];
  /** For ssh2's `hostVerifier` (async form). */
  verify(key: Buffer, done: (ok: boolean) => void): void;
  /** Why verification refused the host, if it did. */
  problem(): HostKeyError | undefined;
  /** Set when --trust-new-hosts recorded the key. */
  recorded(): string | undefined;
}

function readIfExistsSync(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw e;
  }
}

async function readIfExists(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw e;
  }
}

export async function hostVerifier(opts: HostTrustOptions): Promise<HostVerifier> {
  const name = knownHostName(opts.host, opts.port);
  // Read at once (a small file): the connect that follows is dialled in the same turn (load-order.ts).
  const all = parseKnownHosts(readIfExistsSync(opts.knownHostsFile)).filter((e) => entryMatchesHost(e, name));
  const revoked = all.filter((e) => e.marker === 'revoked');
  const known = all.filter((e) => !e.marker);
  const knownAlgs = [...new Set(known.flatMap((e) => algorithmsForKeyType(e.keyType)))].filter((a) => DEFAULT_HOST_KEY_ALGORITHMS.includes(a));
  let problem: HostKeyError | undefined;
  let recorded: string | undefined;
  const where = `${opts.label} (${opts.host}:${opts.port})`;

  const check = async (key: Buffer): Promise<boolean> => {
    const type = keyTypeOfBlob(key) ?? 'unknown';
    const fp = fingerprintSha256(key);
    const bad = revoked.find((e) => e.key.equals(key));
    if (bad) {
      problem = new HostKeyError(`${where}: host key ${type} ${fp} is marked @revoked in ${opts.knownHostsFile}:${bad.line}; refusing to connect`);
      return false;
    }
    if (opts.pinnedFingerprint) {
      if (fp === opts.pinnedFingerprint) return true;
      problem = new HostKeyError(
        `${where}: host key ${type} ${fp} does not match the pinned hostKeyFingerprint ${opts.pinnedFingerprint}; refusing to connect (possible man-in-the-middle)`,
        { hint: 'If the host was reinstalled on purpose, update hostKeyFingerprint for this node in the inventory.' },
      );
      return false;
    }
    if (known.some((e) => e.key.equals(key))) return true;
    if (known.length) {
      const old = known.find((e) => e.keyType === type) ?? known[0];
      problem = new HostKeyError(
        `${where}: HOST KEY CHANGED: the host offers ${type} ${fp}, but ${opts.knownHostsFile}:${old.line} holds ${old.keyType} ${fingerprintSha256(old.key)}; refusing to connect (possible man-in-the-middle)`,
        { hint: `If the host was reinstalled on purpose, remove the old entry (ssh-keygen -R '${name}' -f ${opts.knownHostsFile}) and re-run with --trust-new-hosts. --trust-new-hosts alone never replaces a changed key.` },
      );
      return false;
    }
    if (opts.trustNewHosts) {
      await recordHostKey(opts.knownHostsFile, name, type, key);
      recorded = fp;
      (opts.log ?? ((l: string) => process.stderr.write(`${l}\n`)))(`--trust-new-hosts: recorded ${where}: ${type} ${fp} in ${opts.knownHostsFile}`);
      return true;
    }
    problem = new HostKeyError(`${where}: unknown host key ${type} ${fp} (not in ${opts.knownHostsFile})`, {
      hint: `Compare it with \`ssh-keygen -lf /etc/ssh/ssh_host_${type.replace(/^ssh-|-sha2-nistp\d+$/g, '')}_key.pub\` on the host, then re-run with --trust-new-hosts to record it, or pin it as hostKeyFingerprint on the node.`,
    });
    return false;
  };

  return {
    algorithms: [...knownAlgs, ...DEFAULT_HOST_KEY_ALGORITHMS.filter((a) => !knownAlgs.includes(a))],
    verify(key, done) {
      check(key).then(done, (e) => {
        problem = new HostKeyError(`${where}: could not record the host key in ${opts.knownHostsFile}: ${(e as Error).message}`);
        done(false);
      });
    },
    problem: () => problem,
    recorded: () => recorded,
  };
}

// Hosts connect in parallel: appends are serialized in this process and locked across processes.
const chains = new Map<string, Promise<unknown>>();

export function recordHostKey(file: string, name: string, keyType: string, key: Buffer): Promise<void> {
  const prev = chains.get(file) ?? Promise.resolve();
  const next = prev.catch(() => {}).then(() => withFileLock(`${file}.lock`, async () => {
    const existing = parseKnownHosts(await readIfExists(file));
    if (existing.some((e) => !e.marker && entryMatchesHost(e, name) && e.key.equals(key))) return;
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    const text = await readIfExists(file);
    const sep = text && !text.endsWith('\n') ? '\n' : '';
    await appendFile(file, `${sep}${name} ${keyType} ${key.toString('base64')}\n`, { mode: 0o600 });
  }));
  chains.set(file, next);
  return next;
}

async function withFileLock<T>(lock: string, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await mkdir(dirname(lock), { recursive: true, mode: 0o700 });
      const fh = await open(lock, 'wx', 0o600);
      await fh.write(String(process.pid));
      await fh.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const age = await stat(lock).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (age > 30_000) await rm(lock, { force: true });
      else if (Date.now() > deadline) throw new Error(`${lock} is held by another process`);
      else await new Promise((r) => setTimeout(r, 50));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { force: true });
  }
}
