/**
 * Issue 12 (low): the release tarball is streamed, each member capped (a gzip bomb stops at its header),
 * only the first member of each wanted name is kept, and flannel.tarballSha256 is checked first.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from 'tar';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_MEMBER_BYTES, readFlannelTarball } from '../../src/bootstrap/tarball.js';

const dir = mkdtempSync(join(tmpdir(), 'flanctl-sec-tar-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function tarball(name: string, files: Record<string, string | Buffer>, order = Object.keys(files)): Promise<string> {
  const src = join(dir, `${name}-src`);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(src, path, '..'), { recursive: true });
    writeFileSync(join(src, path), content);
  }
  const file = join(dir, name);
  await create({ gzip: true, file, cwd: src }, order);
  return file;
}

describe('reading the release tarball safely', () => {
  it('refuses a member larger than the cap, at its header (gzip bomb)', async () => {
    const file = await tarball('bomb.tar.gz', { flanneld: Buffer.alloc(3 << 20) });
    expect(readFileSync(file).length).toBeLessThan(64 << 10); // 3 MiB of zeros compress to a few KB
    await expect(readFlannelTarball(file, { maxMemberBytes: 1 << 20 })).rejects.toThrow(/member flanneld is 3145728 bytes, more than the 1048576/);
    expect(MAX_MEMBER_BYTES).toBeGreaterThanOrEqual(128 << 20); // real flanneld binaries (~40 MB) fit
    expect(MAX_MEMBER_BYTES).toBeLessThanOrEqual(512 << 20);
  });

  it('keeps only the first member of each wanted name', async () => {
    const file = await tarball('dups.tar.gz', { 'a/flanneld': 'FIRST', 'b/flanneld': 'SECOND', 'c/flanneld': 'THIRD' });
    expect((await (await readFlannelTarball(file)).flanneld.load()).toString()).toBe('FIRST');
  });

  it('checks flannel.tarballSha256 before reading anything out of it', async () => {
    const file = await tarball('flannel-v0.20.2-linux-amd64.tar.gz', { flanneld: 'ELF' });
    const sha = createHash('sha256').update(readFileSync(file)).digest('hex');
    expect((await (await readFlannelTarball(file, { sha256: sha.toUpperCase() })).flanneld.load()).toString()).toBe('ELF');
    const err = await readFlannelTarball(file, { sha256: 'f'.repeat(64) }).catch((e) => e);
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(new RegExp(`has sha256 ${sha}, but flannel.tarballSha256 says f{64}; nothing was uploaded`));
  });
});
