// The weighted stand-in's launcher (lab/flanneld-standin/weighted.mjs) run by a real sh on a small file
// followed by a sparse 64 GiB hole: the launcher must hand node the program and never read the padding.
// A launcher that read on past the end marker would spend minutes in the hole and fail the timeout.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JS_END, weightedHead } from '../../lab/flanneld-standin/weighted.mjs';

/**
 * Runs argv in its own process group; after 10 s the whole group is killed (a launcher stuck reading
 * the hole must not leave its sed behind) and the run fails.
 */
function run(argv: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { env, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += String(d)));
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
      reject(new Error(`${argv.join(' ')}: still running after 10 s`));
    }, 10_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}
const PROGRAM = "#!/usr/bin/env node\nconsole.log('stand-in');\nconst s = `two\nlines`;\n";

describe('weighted flanneld stand-in launcher', () => {
  let dir: string;
  let flanneld: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'flanctl-weighted-'));
    // A fake node: writes its -e program and its other arguments where the test can read them.
    writeFileSync(join(dir, 'node'), `#!/bin/sh\n[ "$1" = -e ] || exit 9\nprintf '%s' "$2" > "${dir}/program"\nshift 2\necho "$@" > "${dir}/args"\n`);
    chmodSync(join(dir, 'node'), 0o755);
    flanneld = join(dir, 'flanneld');
    const head = weightedHead('v0.20.2', 'TEST EQUIPMENT', PROGRAM);
    writeFileSync(flanneld, head);
    truncateSync(flanneld, head.length + 64 * 1024 ** 3); // sparse: no disk used
    chmodSync(flanneld, 0o755);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('hands node the program without the shebang or the markers, and stops reading at the end marker', async () => {
    const env = { ...process.env, PATH: `${dir}:${process.env.PATH}` };
    expect((await run(['sh', flanneld, '-etcd-prefix=/coreos.com/network', '-ip-masq'], env)).code).toBe(0);
    expect(readFileSync(join(dir, 'program'), 'utf8')).toBe(PROGRAM.replace(/^#!.*\n/, '').replace(/\n+$/, '')); // $(…) drops trailing newlines
    expect(readFileSync(join(dir, 'args'), 'utf8').trim()).toBe('flanneld -etcd-prefix=/coreos.com/network -ip-masq');
  });

  it('answers a lone -version itself, on stderr, without node', async () => {
    const env = { ...process.env, PATH: `${dir}:${process.env.PATH}` };
    const r = await run(['sh', flanneld, '-version'], env);
    expect(r.code).toBe(0);
    expect(r.stderr.split('\n')[0]).toBe('v0.20.2');
    expect(() => readFileSync(join(dir, 'program'))).toThrow();
  });

  it('refuses a program that holds a marker line', () => {
    expect(() => weightedHead('v0.20.2', 'x', `a\n${JS_END}\nb\n`)).toThrow(/marker inside the program/);
  });
});
