import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from 'tar';
import { afterAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/connector/sha256.js';
import { readFlannelTarball } from '../../src/bootstrap/tarball.js';

const dir = mkdtempSync(join(tmpdir(), 'flanctl-tarball-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function tarball(name: string, files: Record<string, string>): Promise<string> {
  const src = join(dir, `${name}-src`);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(src, path, '..'), { recursive: true });
    writeFileSync(join(src, path), content);
  }
  const file = join(dir, name);
  await create({ gzip: true, file, cwd: src }, Object.keys(files));
  return file;
}

describe('readFlannelTarball', () => {
  it('reads flanneld and mk-docker-opts.sh (also from a sub-directory) with their sha256', async () => {
    const file = await tarball('flannel-v0.20.2-linux-amd64.tar.gz', { 'flanneld': 'ELF-bytes', 'mk-docker-opts.sh': '#!/bin/bash\n', 'README.md': 'x' });
    const t = await readFlannelTarball(file);
    expect(t.flanneld.content.toString()).toBe('ELF-bytes');
    expect(t.flanneld.sha256).toBe(sha256Hex('ELF-bytes'));
    expect(t.mkDockerOpts?.content.toString()).toBe('#!/bin/bash\n');
    expect(t.version).toBe('v0.20.2');
    const nested = await readFlannelTarball(await tarball('nested.tar.gz', { 'flannel/flanneld': 'N' }));
    expect(nested.flanneld.content.toString()).toBe('N');
    expect(nested.mkDockerOpts).toBeUndefined();
  });

  it('names the problem: missing file, no flanneld inside, not a tarball', async () => {
    await expect(readFlannelTarball(join(dir, 'nope.tar.gz'))).rejects.toThrow(/does not exist \(inventory flannel.tarball\)/);
    await expect(readFlannelTarball(await tarball('empty.tar.gz', { 'README.md': 'x' }))).rejects.toThrow(/does not contain flanneld/);
    writeFileSync(join(dir, 'junk.tar.gz'), 'not a tarball at all');
    await expect(readFlannelTarball(join(dir, 'junk.tar.gz'))).rejects.toThrow(/junk.tar.gz/);
  });
});
