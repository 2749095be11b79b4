/**
 * The root filesystem of `--init systemd` lab nodes: a minimal Debian built once with mmdebstrap from
 * this machine's configured Debian mirror (~250 MB, ~25-50 s), then shared read-only by every node
 * through an overlayfs upper dir. Default place: DIR/rootfs (so `lab down --purge` removes it);
 * `--rootfs PATH` shares one between labs. A stamp file records what it was built from; a different
 * recipe, or --rebuild-rootfs, builds it again.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { FlanctlError, UsageError } from '../errors.js';
import { aptLine } from './deps.js';
import { sh } from './proc.js';

export const ROOTFS_PACKAGES = ['systemd', 'systemd-sysv', 'dbus', 'openssh-server', 'iproute2', 'iptables', 'iputils-ping', 'procps'];
/** Host tools the systemd nodes need: package → file that proves it. */
export const NSPAWN_TOOLS: Record<string, string> = { 'systemd-container': '/usr/bin/systemd-nspawn', mmdebstrap: '/usr/bin/mmdebstrap' };
export const STAMP = '.flanlab-rootfs.json';
export const defaultRootfs = (dir: string) => join(dir, 'rootfs');

/** Units a lab node has no use for (timers that would wake every node, consoles nobody reads). */
const MASKED = [
  'apt-daily.timer', 'apt-daily-upgrade.timer', 'dpkg-db-backup.timer', 'e2scrub_all.timer', 'fstrim.timer',
  'e2scrub_reap.service', 'console-getty.service', 'getty@tty1.service', 'systemd-pstore.service',
];

export const SSHD_DROPIN = `# flanctl lab node (src/lab/rootfs.ts): one per-node host key, root by key only, many parallel sessions.
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
MaxStartups 200:30:400
MaxSessions 200
`;

/** The missing host tools, with the line that installs them (nothing when all are there). */
export function missingNspawnTools(): { missing: string[]; hint?: string } {
  const missing = Object.keys(NSPAWN_TOOLS).filter((p) => !existsSync(NSPAWN_TOOLS[p]));
  return { missing, hint: missing.length ? aptLine(missing) : undefined };
}

/** The machine's Debian suite and mirror (apt's own configuration), with Debian's defaults as fallback. */
export function hostDebian(): { suite: string; mirror: string } {
  let suite = 'bookworm';
  try {
    suite = /^VERSION_CODENAME=(\w+)/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? suite;
  } catch { /* not Debian-like */ }
  let mirror = 'http://deb.debian.org/debian';
  for (const f of ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list']) {
    let text = '';
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    const uri = /^URIs:\s*(\S+)/m.exec(text)?.[1] ?? /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+\w+\s+main/m.exec(text)?.[1];
    if (uri && !/security/.test(uri)) {
      mirror = uri;
      break;
    }
  }
  return { suite, mirror };
}

export function rootfsRecipe(): Record<string, unknown> {
  return { version: 1, variant: 'minbase', ...hostDebian(), packages: ROOTFS_PACKAGES, masked: MASKED, sshd: SSHD_DROPIN };
}

function stampMatches(path: string, recipe: Record<string, unknown>): boolean {
  try {
    const s = JSON.parse(readFileSync(join(path, STAMP), 'utf8')) as { recipe?: unknown };
    return JSON.stringify(s.recipe) === JSON.stringify(recipe);
  } catch {
    return false;
  }
}

/** The node-independent changes: no baked host keys, volatile journal, masked units, sshd drop-in. */
function customize(root: string): void {
  rmSync(join(root, 'etc/machine-id'), { force: true });
  writeFileSync(join(root, 'etc/machine-id'), ''); // each node gets its own via nspawn --uuid
  for (const t of ['rsa', 'ecdsa', 'ed25519']) {
    for (const s of ['', '.pub']) rmSync(join(root, `etc/ssh/ssh_host_${t}_key${s}`), { force: true });
  }
  mkdirSync(join(root, 'etc/ssh/sshd_config.d'), { recursive: true });
  writeFileSync(join(root, 'etc/ssh/sshd_config.d/flanlab.conf'), SSHD_DROPIN);
  mkdirSync(join(root, 'etc/systemd/journald.conf.d'), { recursive: true });
  writeFileSync(join(root, 'etc/systemd/journald.conf.d/flanlab.conf'), '[Journal]\nStorage=volatile\nRuntimeMaxUse=16M\n');
  for (const u of MASKED) {
    const link = join(root, 'etc/systemd/system', u);
    rmSync(link, { force: true });
    symlinkSync('/dev/null', link);
  }
  for (const wants of ['multi-user.target.wants/e2scrub_reap.service', 'getty.target.wants/getty@tty1.service']) {
    rmSync(join(root, 'etc/systemd/system', wants), { force: true });
  }
}

/** Build the rootfs at `path` unless an up-to-date one is there. Returns whether it was built. */
export async function ensureRootfs(path: string, opts: { rebuild?: boolean; log?: (line: string) => void } = {}): Promise<boolean> {
  const log = opts.log ?? (() => {});
  const recipe = rootfsRecipe();
  if (!opts.rebuild && stampMatches(path, recipe)) return false;
  // Only a rootfs this lab built (it has the stamp) is ever replaced; never someone's directory.
  if (existsSync(path) && !existsSync(join(path, STAMP)) && readdirSync(path).length) {
    throw new UsageError(`--rootfs ${path}: exists and is not a lab rootfs (no ${STAMP}); not replacing it`, { hint: 'Give a new path, or remove it yourself.' });
  }
  const tools = missingNspawnTools();
  if (tools.missing.length) {
    throw new FlanctlError(`--init systemd needs ${tools.missing.join(', ')} on this machine`, { hint: `Install with \`${tools.hint}\`.` });
  }
  const { suite, mirror } = recipe as { suite: string; mirror: string };
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  // Built beside the target and renamed into place: a crash or a parallel build never leaves half a rootfs.
  const tmp = `${path}.build-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  log(`rootfs: building ${path} (mmdebstrap ${suite} minbase from ${mirror}; once, ~250 MB)`);
  const t0 = Date.now();
  const r = await sh(['mmdebstrap', '--quiet', '--variant=minbase', `--include=${ROOTFS_PACKAGES.join(',')}`, suite, tmp, mirror], { timeoutMs: 900_000 });
  if (r.code !== 0) {
    rmSync(tmp, { recursive: true, force: true });
    throw new FlanctlError(`mmdebstrap failed (exit ${r.code}):\n    ${(r.stderr || r.stdout).trim().split('\n').slice(-6).join('\n    ')}`, {
      hint: `It needs the Debian mirror ${mirror} (apt's configured one).`,
    });
  }
  customize(tmp);
  writeFileSync(join(tmp, STAMP), JSON.stringify({ recipe, builtAt: new Date().toISOString() }, null, 2) + '\n');
  const old = `${path}.old-${process.pid}`;
  if (existsSync(path)) renameSync(path, old);
  renameSync(tmp, path);
  rmSync(old, { recursive: true, force: true });
  log(`rootfs: built in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return true;
}
