/**
 * The Debian packages a lab needs. Missing ones are named with the exact apt-get line; with
 * --install-deps they are installed while a temporary /usr/sbin/policy-rc.d (exit 101) keeps apt from
 * starting host-wide services (sshd, supervisord, etcd) on the machine itself.
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { FlanctlError } from '../errors.js';
import { sh } from './proc.js';

/** Package → a file that proves it is installed (used where dpkg is absent). */
export const LAB_PACKAGES: Record<string, string> = {
  'etcd-server': '/usr/bin/etcd',
  'etcd-client': '/usr/bin/etcdctl',
  'openssh-server': '/usr/sbin/sshd',
  'openssh-client': '/usr/bin/ssh-keygen',
  supervisor: '/usr/bin/supervisord',
  iproute2: '/usr/sbin/ip',
  iptables: '/usr/sbin/iptables',
  'iputils-ping': '/usr/bin/ping',
  'util-linux': '/usr/bin/unshare',
};

export const aptLine = (pkgs: string[]) => `apt-get install -y --no-install-recommends ${pkgs.join(' ')}`;

/** The packages from LAB_PACKAGES that are not installed. */
export async function missingPackages(extra: Record<string, string> = {}): Promise<string[]> {
  const files = { ...LAB_PACKAGES, ...extra };
  const pkgs = Object.keys(files);
  const r = await sh(['dpkg-query', '-W', '-f=${Package} ${db:Status-Status}\\n', ...pkgs]);
  if (r.code === 127 || (r.code !== 0 && !r.stdout)) return pkgs.filter((p) => !existsSync(files[p]));
  const installed = new Set(r.stdout.split('\n').filter((l) => l.endsWith(' installed')).map((l) => l.split(' ')[0]));
  return pkgs.filter((p) => !installed.has(p) || !existsSync(files[p]));
}

export class MissingPackagesError extends FlanctlError {}

/** Throws naming the exact install line, or installs them when asked. */
export async function ensurePackages(install: boolean, log: (line: string) => void, extra: Record<string, string> = {}): Promise<string[]> {
  const missing = await missingPackages(extra);
  if (!missing.length) return [];
  if (!install) {
    throw new MissingPackagesError(`the lab needs Debian packages that are not installed: ${missing.join(', ')}`, {
      hint: `Install them with \`${aptLine(missing)}\`, or run \`flanctl lab up --install-deps\`.`,
    });
  }
  log(`installing ${missing.join(' ')} (services kept from starting by a temporary policy-rc.d)`);
  await withPolicyRcD(async () => {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    let r = await sh(['apt-get', 'install', '-y', '--no-install-recommends', ...missing], { env, timeoutMs: 600_000 });
    if (r.code !== 0 && /Unable to locate|has no installation candidate/.test(r.stderr)) {
      await sh(['apt-get', 'update'], { env, timeoutMs: 600_000 });
      r = await sh(['apt-get', 'install', '-y', '--no-install-recommends', ...missing], { env, timeoutMs: 600_000 });
    }
    if (r.code !== 0) {
      throw new MissingPackagesError(`\`${aptLine(missing)}\` failed (exit ${r.code}):\n    ${r.stderr.trim().split('\n').slice(-5).join('\n    ')}`);
    }
  });
  const still = await missingPackages(extra);
  if (still.length) throw new MissingPackagesError(`still missing after apt-get: ${still.join(', ')}`);
  return missing;
}

const POLICY = '/usr/sbin/policy-rc.d';

/** Run fn with a policy-rc.d that denies service starts; an existing one is restored afterwards. */
export async function withPolicyRcD<T>(fn: () => Promise<T>): Promise<T> {
  const backup = `${POLICY}.flanctl-lab-backup`;
  const had = existsSync(POLICY);
  if (had) renameSync(POLICY, backup);
  writeFileSync(POLICY, '#!/bin/sh\n# temporary, written by flanctl lab up --install-deps\nexit 101\n', { mode: 0o755 });
  try {
    return await fn();
  } finally {
    if (existsSync(POLICY) && readFileSync(POLICY, 'utf8').includes('flanctl lab')) rmSync(POLICY, { force: true });
    if (had) renameSync(backup, POLICY);
  }
}
