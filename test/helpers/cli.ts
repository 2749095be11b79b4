/**
 * Runs the built CLI (`node bin/run.js …`, after `npm run build`) as a user would, and returns its
 * exit code and output; with --json the parsed report too.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const repoRoot = new URL('../../', import.meta.url).pathname;
const bin = join(repoRoot, 'bin/run.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json?: any;
}

export function cli(args: string[], opts: { timeoutMs?: number } = {}): Promise<CliResult> {
  if (!existsSync(join(repoRoot, 'dist/commands'))) throw new Error('dist/ is missing: run `npm run build` first');
  return new Promise((resolve) => {
    const env = { ...process.env, NO_COLOR: '1' };
    execFile(process.execPath, [bin, ...args], { cwd: repoRoot, timeout: opts.timeoutMs ?? 175_000, maxBuffer: 16 << 20, env }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      let json: unknown;
      if (args.includes('--json')) {
        try {
          json = JSON.parse(stdout);
        } catch {
          json = undefined;
        }
      }
      resolve({ code, stdout, stderr, json });
    });
  });
}

/** A failure message that shows what the command said. */
export const showCli = (r: CliResult) => `exit ${r.code}\n--- stdout\n${r.stdout.slice(-6000)}\n--- stderr\n${r.stderr.slice(-3000)}`;
