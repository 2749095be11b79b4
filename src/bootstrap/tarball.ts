/**
 * The flannel release tarball (FLANNEL.md §7): `flannel-<tag>-linux-<arch>.tar.gz` holding `flanneld`,
 * `mk-docker-opts.sh` and `README.md`. Streamed through node-tar (no extraction to disk); only the two
 * binaries are kept in memory, with a size cap, so they can be uploaded with a sha256 skip. A file read
 * in full before (tarball-cache.ts: same inode, size, mtime and ctime) gives its digests at once and its
 * bytes on the first upload that needs them, checked against those digests.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { basename } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { FlanctlError, UsageError } from '../errors.js';
import { sha256Hex } from '../connector/sha256.js';
import { binaryFromBuffer, type BinaryFile } from '../steps/binary.js';
import { cachedDigests, rememberDigests, type MemberDigest } from './tarball-cache.js';

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
/** No flannel release member comes near this (flanneld is ~40 MB); a gzip bomb stops here, at its header. */
export const MAX_MEMBER_BYTES = 256 * 1024 * 1024;

export interface ReadTarballOptions {
  /** flannel.tarballSha256: checked (streamed) before anything is read out of the tarball. */
  sha256?: string;
  maxMemberBytes?: number;
  /** false: neither use nor fill the digest cache (tarball-cache.ts). */
  cache?: boolean;
}

/** sha256 (hex) of a file, streamed. */
export async function fileSha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/** Read flanneld and mk-docker-opts.sh out of a .tar.gz (entries may sit in a sub-directory), streaming:
 * only the two members are kept, each at most maxMemberBytes, the first of each name only. */
export async function readFlannelTarball(file: string, opts: ReadTarballOptions = {}): Promise<FlannelTarball> {
  if (!existsSync(file)) {
    throw new FlanctlError(`flannel tarball ${file} does not exist (inventory flannel.tarball)`, {
      hint: 'Download flannel-<version>-linux-amd64.tar.gz from https://github.com/flannel-io/flannel/releases and point flannel.tarball at it.',
    });
  }
  if (opts.sha256) {
    const actual = await fileSha256(file);
    if (actual !== opts.sha256.toLowerCase()) {
      throw new UsageError(`flannel tarball ${file} has sha256 ${actual}, but flannel.tarballSha256 says ${opts.sha256}; nothing was uploaded`, {
        hint: 'Download the release again and compare with the published checksum, or correct flannel.tarballSha256.',
      });
    }
  }
  const max = opts.maxMemberBytes ?? MAX_MEMBER_BYTES;
  const version = /flannel-(v\d+\.\d+\.\d+)/.exec(basename(file))?.[1];
  const known = opts.cache === false ? undefined : cachedDigests(file);
  if (known) {
    // The same file as when it was read in full: its digests stand; the bytes wait for an upload.
    // Read and checked once per member, however many nodes upload it (hashing 40 MB is ~30 ms each).
    let members: Promise<Map<string, Buffer>> | undefined;
    const lazy = (name: string, d: MemberDigest): TarballFile => {
      let checked: Promise<Buffer> | undefined;
      const readChecked = async () => {
        const b = (await (members ??= readMembers(file, max))).get(name);
        if (!b || b.length !== d.size || sha256Hex(b) !== d.sha256) {
          throw new FlanctlError(`flannel tarball ${file} changed while flanctl was running: ${name} is no longer what the checks compared; nothing more is uploaded`, {
            hint: 'Run the command again (it reads the tarball afresh).',
          });
        }
        return b;
      };
      return { sha256: d.sha256, size: d.size, load: () => (checked ??= readChecked()) };
    };
    return { file, flanneld: lazy('flanneld', known.flanneld), mkDockerOpts: known.mkDockerOpts && lazy('mk-docker-opts.sh', known.mkDockerOpts), version };
  }
  const found = await readMembers(file, max);
  const flanneld = found.get('flanneld');
  if (!flanneld || flanneld.length === 0) {
    throw new FlanctlError(`flannel tarball ${file} does not contain flanneld`, {
      hint: 'Use a release asset named flannel-<version>-linux-<arch>.tar.gz.',
    });
  }
  const mk = found.get('mk-docker-opts.sh');
  const result = { file, flanneld: binaryFromBuffer(flanneld), mkDockerOpts: mk ? binaryFromBuffer(mk) : undefined, version };
  if (opts.cache !== false) {
    const digest = (b: TarballFile) => ({ size: b.size, sha256: b.sha256 });
    rememberDigests(file, { flanneld: digest(result.flanneld), ...(result.mkDockerOpts ? { mkDockerOpts: digest(result.mkDockerOpts) } : {}) });
  }
  return result;
}

/** The two members' bytes, streamed out of the .tar.gz (each at most `max`, the first of each name only). */
async function readMembers(file: string, max: number): Promise<Map<string, Buffer>> {
  const { Parser } = await import('tar'); // loaded only when a tarball is read, not at CLI start-up
  const found = new Map<string, Buffer>();
  const claimed = new Set<string>();
  try {
    await new Promise<void>((resolve, reject) => {
      const input = createReadStream(file);
      let failed = false;
      const fail = (err: Error) => {
        if (failed) return;
        failed = true;
        input.destroy();
        reject(err);
      };
      const tooBig = (name: string, size: number) => new FlanctlError(`member ${name} is ${size} bytes, more than the ${max} a flannel release holds; refusing to read it`);
      const parser = new Parser({
        onReadEntry: (entry) => {
          const name = basename(entry.path);
          if (entry.type !== 'File' || !WANTED.has(name) || claimed.has(name)) return void entry.resume();
          claimed.add(name);
          if (entry.size > max) {
            entry.resume();
            return fail(tooBig(name, entry.size));
          }
          // Copied into one buffer of the size the header gives (no list of chunks that pins the
          // decompressor's larger buffers and then needs a second copy: peak memory ~1× the member).
          const out = Buffer.allocUnsafe(entry.size);
          let bytes = 0;
          entry.on('data', (c: Buffer) => {
            if (bytes + c.length > entry.size) return fail(tooBig(name, bytes + c.length));
            c.copy(out, bytes);
            bytes += c.length;
          });
          entry.on('end', () => (bytes === entry.size ? found.set(name, out) : fail(new FlanctlError(`member ${name} ends after ${bytes} of its ${entry.size} bytes`))));
        },
      });
      parser.on('error', fail);
      parser.on('end', () => {
        if (!failed) resolve();
      });
      input.on('error', fail);
      input.pipe(parser);
    });
  } catch (err) {
    throw new FlanctlError(`flannel tarball ${file} cannot be read: ${(err as Error).message}`, { cause: err });
  }
  return found;
}
