/**
 * Two of the read-only scripts every bootstrap sends in its facts batch, run with a real sh on this
 * machine (localConnector): the free-space check (one stat, one df, one awk for every path) and the
 * litter sweep (shell globs, no find). Their answers are compared with what node:fs and a df per path
 * say about the same files.
 */
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { localConnector } from '../../src/connector/local.js';
import { spaceArgv } from '../../src/steps/space.js';
import { litterArgv } from '../../src/steps/litter.js';

const tmp = mkdtempSync(join(tmpdir(), 'flanctl-node-scripts-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** What the old per-path script printed for one path: its size (or -1), then df's free kB and mount of its nearest existing directory. */
function expected(path: string): string {
  let size = -1;
  try {
    size = lstatSync(path).size;
  } catch {
    /* missing */
  }
  let dir = path.slice(0, path.lastIndexOf('/')) || '/';
  for (;;) {
    try {
      if (lstatSync(dir).isDirectory()) break;
    } catch {
      /* go up */
    }
    dir = dir.slice(0, dir.lastIndexOf('/')) || '/';
  }
  const line = execFileSync('df', ['-P', '-k', '--', dir], { encoding: 'utf8' }).trim().split('\n')[1].trim().split(/\s+/);
  return `${size} ${line[3]} ${line[5]}`;
}

describe('free-space script (steps/space.ts)', () => {
  it('prints, per path in order, its size or -1 and the free space and mount of its nearest existing directory', async () => {
    mkdirSync(join(tmp, 'opt', 'bin'), { recursive: true });
    writeFileSync(join(tmp, 'opt', 'bin', 'flanneld'), Buffer.alloc(12345));
    writeFileSync(join(tmp, 'opt', 'a b'), 'x');
    symlinkSync('/etc/hostname', join(tmp, 'opt', 'link'));
    const paths = [
      join(tmp, 'opt', 'bin', 'flanneld'),
      join(tmp, 'missing', 'deeper', 'file'),
      join(tmp, 'opt', 'a b'),
      join(tmp, 'opt', 'link'),
      join(tmp, 'opt', 'bin', 'flanneld'),
      '/nonexistent-flanctl-dir/x',
    ];
    const argv = spaceArgv(paths);
    const r = await localConnector({ name: 'local' }).exec(argv);
    expect(r.code).toBe(0);
    // Free space moves while other tests write: sizes and mount points exactly, free kB as a number.
    const fields = (line: string) => {
      const [size, free, mount] = line.split(' ');
      return { size, mount, free: /^\d+$/.test(free) };
    };
    expect(r.stdout.trim().split('\n').map(fields)).toEqual(paths.map(expected).map(fields));
    expect(r.stdout.split('\n')[0]).toMatch(/^12345 \d+ \//);
  });
});

describe('litter sweep (steps/litter.ts)', () => {
  it('lists the temp files of interrupted writes: regular files only, in every given directory that exists', async () => {
    const a = join(tmp, 'la');
    const b = join(tmp, 'lb');
    mkdirSync(a);
    mkdirSync(b);
    mkdirSync(join(b, '.dir.flanctl-5'));
    for (const f of [join(a, '.flanneld.flanctl-1a2b3c4d'), join(a, '.flanctl.XYZ12345'), join(b, '.sp ace.flanctl-9'), join(a, 'flanneld'), join(a, 'x.flanctl-1')]) writeFileSync(f, '');
    symlinkSync('/etc/hostname', join(b, '.l.flanctl-3'));
    const r = await localConnector({ name: 'local' }).exec(litterArgv([a, b, join(tmp, 'none')]));
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').filter(Boolean).sort()).toEqual([join(a, '.flanctl.XYZ12345'), join(a, '.flanneld.flanctl-1a2b3c4d'), join(b, '.sp ace.flanctl-9')].sort());
    const none = await localConnector({ name: 'local' }).exec(litterArgv([join(tmp, 'none')]));
    expect(none).toMatchObject({ code: 0, stdout: '' });
  });
});
