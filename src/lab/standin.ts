/**
 * Which flanneld the lab's inventory points at: one of the stand-in's emulated releases
 * (lab/flanneld-standin, TEST EQUIPMENT) or a real release tarball the user brings, the etcd API that
 * version speaks, and the stand-in's watch-bug switch written into every node.
 */
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { UsageError } from '../errors.js';
import { packageRoot } from './node.js';

/** The releases lab/flanneld-standin/build.mjs builds (keep in step with its `versions`). */
export const STANDIN_RELEASES = ['v0.11.0', 'v0.20.2', 'v0.22.3'] as const;
export type StandinRelease = (typeof STANDIN_RELEASES)[number];
export const DEFAULT_RELEASE: StandinRelease = 'v0.20.2';

/** The stand-in's settings file inside a node (lab/flanneld-standin/src/standin-env.ts). */
export const STANDIN_ENV_FILE = '/etc/flanneld-standin.env';

/**
 * The built stand-in tarball of a release. FLANCTL_STANDIN_WEIGHT=real picks the build padded to a
 * real flanneld's size (`FLANCTL_STANDIN_WEIGHT=real npm run build` makes it).
 */
export function standinTarball(release: StandinRelease = DEFAULT_RELEASE, weight = process.env.FLANCTL_STANDIN_WEIGHT): string {
  if (weight !== undefined && weight !== '' && weight !== 'light' && weight !== 'real') {
    throw new UsageError(`FLANCTL_STANDIN_WEIGHT=${weight}: expected light or real`);
  }
  const kind = weight === 'real' ? 'standin-weighted' : 'standin';
  const file = join(packageRoot, 'lab', 'dist', `flannel-${release}-${kind}-linux-amd64.tar.gz`);
  if (weight === 'real' && !existsSync(file)) {
    throw new UsageError(`FLANCTL_STANDIN_WEIGHT=real: ${file} is not built; run \`FLANCTL_STANDIN_WEIGHT=real npm run build\` first`);
  }
  return file;
}

/** "v0.11.0" from flannel-v0.11.0-linux-amd64.tar.gz (or a stand-in tarball), like readFlannelTarball. */
export const tarballVersion = (file: string) => /flannel-(v\d+\.\d+\.\d+)/.exec(basename(file))?.[1];

/** flannel <= 0.17 speaks etcd v2 only, >= 0.18 etcd v3 (FLANNEL.md §1); unknown versions: v3. */
export function etcdApiOf(version: string | undefined): 'v2' | 'v3' {
  const m = version && /^v(\d+)\.(\d+)\./.exec(version);
  if (!m) return 'v3';
  return Number(m[1]) === 0 && Number(m[2]) <= 17 ? 'v2' : 'v3';
}

/** --release and --flannel-tarball → the tarball the inventory points at. */
export function chooseTarball(opts: { release?: string; flannelTarball?: string; resolvePath: (p: string) => string }): string {
  if (opts.release && opts.flannelTarball) throw new UsageError('--release and --flannel-tarball exclude each other (--release picks a stand-in tarball)');
  if (opts.release !== undefined && !(STANDIN_RELEASES as readonly string[]).includes(opts.release)) {
    throw new UsageError(`--release ${opts.release}: the stand-in emulates ${STANDIN_RELEASES.join(', ')} (bring any other release with --flannel-tarball)`);
  }
  if (opts.flannelTarball) {
    const file = opts.flannelTarball.startsWith('/') ? opts.flannelTarball : opts.resolvePath(opts.flannelTarball);
    if (!existsSync(file)) throw new UsageError(`--flannel-tarball ${file}: not found`);
    return file;
  }
  return standinTarball((opts.release as StandinRelease | undefined) ?? DEFAULT_RELEASE);
}

/**
 * The settings file written into each node: the watch bug on (and, with a gap, the time the stand-in
 * waits before each new etcd watch, which widens the window in which v0.20.2 loses events), or no
 * file (the stand-in's default).
 */
export const standinEnvText = (watchBug: boolean, gapMs = 0) =>
  watchBug
    ? '# written by `flanctl lab up --watch-bug` (flanneld stand-in, TEST EQUIPMENT)\nFLANNELD_STANDIN_WATCH_BUG=on\n' +
      (gapMs > 0 ? `FLANNELD_STANDIN_WATCH_GAP_MS=${Math.round(gapMs)}\n` : '')
    : undefined;
