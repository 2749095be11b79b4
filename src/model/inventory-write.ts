/**
 * Replacing the inventory file on the control machine (switch-backend, node remove): the new text goes
 * to an exclusively created temp file with a random name beside it (no planted symlink is followed),
 * keeps the file's mode, and is renamed over the original; on any error the temp file is removed.
 */
import { randomBytes } from 'node:crypto';
import { renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export function replaceInventoryFile(file: string, text: string): void {
  const tmp = join(dirname(file), `.${basename(file)}.flanctl-${randomBytes(8).toString('hex')}.tmp`);
  try {
    writeFileSync(tmp, text, { mode: statSync(file).mode & 0o777, flag: 'wx' });
    renameSync(tmp, file);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
    throw e;
  }
}
