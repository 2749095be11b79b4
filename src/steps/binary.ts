/**
 * Binaries from the release tarball (flanneld, mk-docker-opts.sh) into flannel.installDir, 0755.
 * The upload is skipped when the remote sha256 already matches (DESIGN.md §4 "Idempotent").
 */
import type { Step } from '../engine/step.js';
import { fileStep } from './file.js';

/** A binary's bytes and their sha256 (hex), as read once per run from the release tarball. */
export interface BinaryFile {
  content: Buffer;
  sha256: string;
}

export function binaryStep(id: string, name: string, path: string, file: BinaryFile): Step {
  return fileStep({ id, title: `${name} binary`, path, content: file.content, mode: 0o755, binary: true });
}
