/**
 * Keeping private keys private on the control machine (issue 12): pki.dir gets a .gitignore for
 * `*-key.pem`, every command warns when a private key under pki.dir is tracked by git or not ignored
 * in a git work tree, and loose modes of key files flanctl owns are tightened to 0600.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const KEY_IGNORE_PATTERN = '*-key.pem';
const GITIGNORE_TEXT = `# flanctl: private keys never go into git (ca-key.pem, flanneld-key.pem, …)\n${KEY_IGNORE_PATTERN}\n*.key\n`;

/** Write (or complete) <dir>/.gitignore so `*-key.pem` is ignored; returns the file when it changed. */
export function writePkiGitignore(dir: string): string | undefined {
  const file = join(dir, '.gitignore');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const old = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  if (old?.split('\n').some((l) => l.trim() === KEY_IGNORE_PATTERN)) return undefined;
  writeFileSync(file, old === undefined ? GITIGNORE_TEXT : `${old}${old.endsWith('\n') || !old ? '' : '\n'}${KEY_IGNORE_PATTERN}\n`, { mode: 0o644 });
  return file;
}

/** Private key files directly in dir: *-key.pem, *.key, or any *.pem holding a PRIVATE KEY block. */
export function privateKeyFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.endsWith('-key.pem') || n.endsWith('.key') || (n.endsWith('.pem') && holdsPrivateKey(join(dir, n))))
    .map((n) => join(dir, n))
    .filter((f) => statSync(f, { throwIfNoEntry: false })?.isFile());
}

export function holdsPrivateKey(file: string): boolean {
  try {
    return /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(readFileSync(file, 'utf8'));
  } catch {
    return false;
  }
}

function git(dir: string, args: string[]): string | undefined {
  try {
    return execFileSync('git', ['-C', dir, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
  } catch (err) {
    // check-ignore exits 1 when nothing is ignored: its (empty) output is still the answer.
    const e = err as { status?: number; stdout?: string };
    return e.status === 1 && typeof e.stdout === 'string' ? e.stdout : undefined;
  }
}

/** Warnings for private keys under dir that a git work tree tracks or does not ignore. */
export function gitKeyWarnings(dir: string): string[] {
  const keys = privateKeyFiles(dir);
  if (!keys.length) return [];
  if (git(dir, ['rev-parse', '--is-inside-work-tree'])?.trim() !== 'true') return [];
  const rel = keys.map((k) => k.slice(dir.length + 1));
  const tracked = new Set((git(dir, ['ls-files', '--', ...rel]) ?? '').split('\n').filter(Boolean));
  const ignored = new Set((git(dir, ['check-ignore', '--no-index', '--', ...rel]) ?? '').split('\n').filter(Boolean));
  const out: string[] = [];
  for (const [i, k] of keys.entries()) {
    if (tracked.has(rel[i])) out.push(`private key ${k} is tracked by git: remove it from the repository (git rm --cached) and its history, then rotate it`);
    else if (!ignored.has(rel[i])) out.push(`private key ${k} is inside a git work tree and not ignored: add ${KEY_IGNORE_PATTERN} to ${join(dir, '.gitignore')}`);
  }
  return out;
}

/** chmod 0600 the key files under dir that this user owns and others can read; returns what was fixed
 * and warnings for loose keys owned by someone else (not ours to change). */
export function tightenKeyModes(dir: string): { fixed: string[]; warnings: string[] } {
  const fixed: string[] = [];
  const warnings: string[] = [];
  const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
  for (const f of privateKeyFiles(dir)) {
    const st = statSync(f);
    const mode = st.mode & 0o777;
    if (!(mode & 0o077)) continue;
    const m = mode.toString(8).padStart(4, '0');
    if (uid === undefined || st.uid === uid) {
      chmodSync(f, 0o600);
      fixed.push(`${f}: mode ${m} → 0600 (private keys must not be readable by others)`);
    } else {
      warnings.push(`private key ${f} has mode ${m} and belongs to uid ${st.uid}, not flanctl's user: chmod 0600 it`);
    }
  }
  return { fixed, warnings };
}

/** Everything every command says about key hygiene in pki.dir (fixing loose modes first). */
export function keyHygiene(dir: string): string[] {
  const { fixed, warnings } = tightenKeyModes(dir);
  return [...fixed.map((f) => `fixed ${f}`), ...warnings, ...gitKeyWarnings(dir)];
}
