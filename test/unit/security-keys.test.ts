/**
 * Issue 12, finding 4 and a low one: private keys stay out of git (init writes pki/.gitignore, every
 * command warns about a key that git tracks or does not ignore) and loose key modes are fixed when
 * flanctl's user owns the file. Real git in a temp work tree.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Init from '../../src/commands/init.js';
import Validate from '../../src/commands/validate.js';
import { runCommand } from './run-command.js';

const KEY = '-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB\n-----END EC PRIVATE KEY-----\n';
let repo: string;
const git = (...args: string[]) => execFileSync('git', ['-C', repo, ...args], { encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } });

beforeAll(() => {
  repo = mkdtempSync(join(tmpdir(), 'flanctl-sec-git-'));
  git('init', '-q');
});
afterAll(() => rmSync(repo, { recursive: true, force: true }));

describe('private keys and git', () => {
  it('init writes pki/.gitignore so ca-key.pem copied next to the inventory is ignored', async () => {
    const inv = join(repo, 'inventory.yaml');
    const r = await runCommand(Init, ['-i', inv, '--etcd', 'https://10.0.0.5:2379', '--node', 'node1=10.0.0.11']);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(repo, 'pki', '.gitignore'), 'utf8')).toMatch(/^\*-key\.pem$/m);
    writeFileSync(join(repo, 'pki', 'ca-key.pem'), KEY, { mode: 0o600 });
    writeFileSync(join(repo, 'pki', 'ca.pem'), 'cert\n');
    git('add', '-A');
    expect(git('diff', '--cached', '--name-only').split('\n')).not.toContain('pki/ca-key.pem');
    expect(git('diff', '--cached', '--name-only').split('\n')).toContain('pki/ca.pem');
    const v = await runCommand(Validate, ['-i', inv]);
    expect(v.code).toBe(0);
    expect(v.stderr).not.toMatch(/private key/);
  });

  it('every command warns when a private key is tracked, or not ignored, in a git work tree', async () => {
    const inv = join(repo, 'inventory.yaml');
    git('add', '-f', 'pki/ca-key.pem');
    const tracked = await runCommand(Validate, ['-i', inv, '--json']);
    expect(tracked.stderr).toMatch(/Warning: private key .*pki\/ca-key\.pem is tracked by git/);
    git('rm', '-q', '--cached', 'pki/ca-key.pem');
    rmSync(join(repo, 'pki', '.gitignore'));
    const unignored = await runCommand(Validate, ['-i', inv]);
    expect(unignored.stderr).toMatch(/Warning: private key .*pki\/ca-key\.pem is inside a git work tree and not ignored/);
  });

  it('a key file flanctl owns with a loose mode is set to 0600 (not only reported)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flanctl-sec-mode-'));
    try {
      mkdirSync(join(dir, 'pki'));
      const inv = join(dir, 'inventory.yaml');
      await runCommand(Init, ['-i', inv, '--etcd', 'https://10.0.0.5:2379', '--node', 'node1=10.0.0.11']);
      writeFileSync(join(dir, 'pki', 'flanneld-key.pem'), KEY);
      chmodSync(join(dir, 'pki', 'flanneld-key.pem'), 0o644);
      const r = await runCommand(Validate, ['-i', inv]);
      expect(r.stderr).toMatch(/fixed .*flanneld-key\.pem: mode 0644 → 0600/);
      expect(statSync(join(dir, 'pki', 'flanneld-key.pem')).mode & 0o777).toBe(0o600);
      expect(existsSync(join(dir, 'pki', '.gitignore'))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
