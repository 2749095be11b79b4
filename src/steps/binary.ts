/**
 * Binaries from the release tarball (flanneld, mk-docker-opts.sh) into flannel.installDir, 0755.
 * The upload is skipped when the remote sha256 already matches (DESIGN.md §4 "Idempotent").
 */
import type { Step } from '../engine/step.js';
import { sha256Hex } from '../connector/sha256.js';
import { fileStep, type LazyContent } from './file.js';

/**
 * A binary's sha256 (hex) and size, and its bytes on demand: the check needs only the digest, the
 * bytes are read (once, from the release tarball) when a node needs the upload.
 */
export type BinaryFile = LazyContent;

/** A binary already in memory. */
export function binaryFromBuffer(content: Buffer): BinaryFile {
  return { sha256: sha256Hex(content), size: content.length, load: async () => content };
}

export function binaryStep(id: string, name: string, path: string, file: BinaryFile): Step {
  return fileStep({ id, title: `${name} binary`, path, content: file, mode: 0o755, binary: true });
}
