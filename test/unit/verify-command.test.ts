import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import Status from '../../src/commands/status.js';
import Verify from '../../src/commands/verify.js';

const root = new URL('../../', import.meta.url).pathname;

async function runCommand(cmd: typeof Verify | typeof Status, argv: string[]) {
  const err = vi.spyOn(console, 'error').mockImplementation(() => undefined);
  const out = vi.spyOn(console, 'log').mockImplementation(() => undefined);
  const before = process.exitCode;
  try {
    const error = await (cmd as typeof Verify).run(argv, root).then(() => undefined, (e: unknown) => e as { oclif?: { exit?: number } });
    return { error, exitCode: process.exitCode, stderr: err.mock.calls.map((c) => String(c[0])).join('') };
  } finally {
    process.exitCode = before;
    err.mockRestore();
    out.mockRestore();
  }
}

describe('verify/status commands: exit codes before any host is touched', () => {
  let dir: string | undefined;
  afterEach(() => dir && rmSync(dir, { recursive: true, force: true }));

  it('a missing inventory is exit 2 naming the file', async () => {
    const r = await runCommand(Verify, ['-i', '/nonexistent/inventory.yaml']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('/nonexistent/inventory.yaml');
  });

  it('an invalid flag value is a usage error (exit 2)', async () => {
    const r = await runCommand(Verify, ['--concurrency', '0']);
    expect(r.error?.oclif?.exit ?? r.exitCode).toBe(2);
  });

  it('missing etcd TLS files: exit 1 with a hint (status and verify)', async () => {
    dir = mkdtempSync(join(tmpdir(), 'flanctl-verify-'));
    const inv = join(dir, 'inventory.yaml');
    writeFileSync(inv, `network: { cidr: 10.244.0.0/16 }\netcd: { endpoints: ['https://127.0.0.1:2379'] }\nflannel: { tarball: f.tgz }\nnodes: [{ name: node1, host: 10.77.1.11 }]\n`);
    for (const cmd of [Verify, Status]) {
      const r = await runCommand(cmd, ['-i', inv]);
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toMatch(/etcd TLS files? not found/);
    }
  });
});
