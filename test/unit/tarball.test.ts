import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from 'tar';
import { afterAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/connector/sha256.js';
import { readFlannelTarball } from '../../src/bootstrap/tarball.js';
import { cacheDir, cachedDigests } from '../../src/bootstrap/tarball-cache.js';

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
    expect((await t.flanneld.load()).toString()).toBe('ELF-bytes');
    expect(t.flanneld.size).toBe(9);
    expect(t.flanneld.sha256).toBe(sha256Hex('ELF-bytes'));
    expect((await t.mkDockerOpts!.load()).toString()).toBe('#!/bin/bash\n');
    expect(t.version).toBe('v0.20.2');
    const nested = await readFlannelTarball(await tarball('nested.tar.gz', { 'flannel/flanneld': 'N' }));
    expect((await nested.flanneld.load()).toString()).toBe('N');
    expect(nested.mkDockerOpts).toBeUndefined();
  });

  it('names the problem: missing file, no flanneld inside, not a tarball', async () => {
    await expect(readFlannelTarball(join(dir, 'nope.tar.gz'))).rejects.toThrow(/does not exist \(inventory flannel.tarball\)/);
    await expect(readFlannelTarball(await tarball('empty.tar.gz', { 'README.md': 'x' }))).rejects.toThrow(/does not contain flanneld/);
    writeFileSync(join(dir, 'junk.tar.gz'), 'not a tarball at all');
    await expect(readFlannelTarball(join(dir, 'junk.tar.gz'))).rejects.toThrow(/junk.tar.gz/);
  });

  it('with a digest cache: a second read gives the digests at once and the bytes on load; a changed file is read afresh', async () => {
    const cache = join(dir, 'cache');
    const env = process.env.FLANCTL_TARBALL_CACHE;
    process.env.FLANCTL_TARBALL_CACHE = cache;
    try {
      const file = await tarball('flannel-v0.22.3-linux-amd64.tar.gz', { flanneld: 'v1-bytes', 'mk-docker-opts.sh': 'mk' });
      const first = await readFlannelTarball(file);
      expect(cachedDigests(file)).toEqual({ flanneld: { size: 8, sha256: sha256Hex('v1-bytes') }, mkDockerOpts: { size: 2, sha256: sha256Hex('mk') } });
      expect(statSync(join(cache, 'tarballs.json')).mode & 0o777).toBe(0o600);
      expect(statSync(cache).mode & 0o777).toBe(0o700);
      const second = await readFlannelTarball(file);
      expect({ sha: second.flanneld.sha256, size: second.flanneld.size }).toEqual({ sha: first.flanneld.sha256, size: 8 });
      expect((await second.flanneld.load()).toString()).toBe('v1-bytes');
      expect((await second.mkDockerOpts!.load()).toString()).toBe('mk');
      // The file replaced between the look and the upload: the load refuses rather than upload other bytes.
      const third = await readFlannelTarball(file);
      await tarball('flannel-v0.22.3-linux-amd64.tar.gz', { flanneld: 'v2-bytes!', 'mk-docker-opts.sh': 'mk' });
      await expect(third.flanneld.load()).rejects.toThrow(/changed while flanctl was running: flanneld/);
      // A changed file (new inode, size, times) is not taken for the old one.
      expect(cachedDigests(file)).toBeUndefined();
      const fresh = await readFlannelTarball(file);
      expect(fresh.flanneld.sha256).toBe(sha256Hex('v2-bytes!'));
      // Off: neither used nor filled.
      process.env.FLANCTL_TARBALL_CACHE = 'off';
      expect(cachedDigests(file)).toBeUndefined();
      rmSync(cache, { recursive: true, force: true });
      await readFlannelTarball(file);
      expect(existsSync(cache)).toBe(false);
    } finally {
      if (env === undefined) delete process.env.FLANCTL_TARBALL_CACHE;
      else process.env.FLANCTL_TARBALL_CACHE = env;
    }
  });

  it('the digest cache lives in flanctl\'s cache directory (as oclif finds it) unless FLANCTL_TARBALL_CACHE says otherwise', () => {
    expect(cacheDir({ FLANCTL_TARBALL_CACHE: 'off', FLANCTL_CACHE_DIR: '/c' })).toBeUndefined();
    expect(cacheDir({ FLANCTL_TARBALL_CACHE: '/t', FLANCTL_CACHE_DIR: '/c' })).toBe('/t');
    expect(cacheDir({ FLANCTL_CACHE_DIR: '/c', XDG_CACHE_HOME: '/x' })).toBe('/c');
    expect(cacheDir({ XDG_CACHE_HOME: '/x' })).toBe('/x/flanctl');
  });
});
