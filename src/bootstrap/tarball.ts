/**
 * The flannel release tarball (FLANNEL.md §7): `flannel-<tag>-linux-<arch>.tar.gz` holding `flanneld`,
 * `mk-docker-opts.sh` and `README.md`. Read into memory with node-tar (no extraction to disk), so the
 * binaries can be uploaded with a sha256 skip.
 */
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { FlanctlError } from '../errors.js';
import { sha256Hex } from '../connector/sha256.js';
import type { BinaryFile } from '../steps/binary.js';

export type TarballFile = BinaryFile;

export interface FlannelTarball {
  file: string;
  flanneld: TarballFile;
  /** Absent in some custom builds; the systemd unit then skips the mk-docker-opts ExecStartPost. */
  mkDockerOpts?: TarballFile;
  /** "v0.20.2" when the file name says so. */
  version?: string;
}

const WANTED = new Set(['flanneld', 'mk-docker-opts.sh']);

/** Read flanneld and mk-docker-opts.sh out of a .tar.gz (entries may sit in a sub-directory). */
export async function readFlannelTarball(file: string): Promise<FlannelTarball> {
  if (!existsSync(file)) {
    throw new FlanctlError(`flannel tarball ${file} does not exist (inventory flannel.tarball)`, {
      hint: 'Download flannel-<version>-linux-amd64.tar.gz from https://github.com/flannel-io/flannel/releases and point flannel.tarball at it.',
    });
  }
  const { list } = await import('tar'); // loaded only when a tarball is read, not at CLI start-up
  const found = new Map<string, Buffer>();
  const pending: Promise<void>[] = [];
  try {
    await list({
      file,
      onReadEntry: (entry) => {
        const name = basename(entry.path);
        if (entry.type !== 'File' || !WANTED.has(name) || found.has(name)) return;
        const chunks: Buffer[] = [];
        pending.push(
          new Promise((resolve, reject) => {
            entry.on('data', (c: Buffer) => chunks.push(c));
            entry.on('end', () => {
              found.set(name, Buffer.concat(chunks));
              resolve();
            });
            entry.on('error', reject);
          }),
        );
      },
    });
    await Promise.all(pending);
  } catch (err) {
    throw new FlanctlError(`flannel tarball ${file} cannot be read: ${(err as Error).message}`, { cause: err });
  }
  const flanneld = found.get('flanneld');
  if (!flanneld || flanneld.length === 0) {
    throw new FlanctlError(`flannel tarball ${file} does not contain flanneld`, {
      hint: 'Use a release asset named flannel-<version>-linux-<arch>.tar.gz.',
    });
  }
  const mk = found.get('mk-docker-opts.sh');
  return {
    file,
    flanneld: { content: flanneld, sha256: sha256Hex(flanneld) },
    mkDockerOpts: mk ? { content: mk, sha256: sha256Hex(mk) } : undefined,
    version: /flannel-(v\d+\.\d+\.\d+)/.exec(basename(file))?.[1],
  };
}
