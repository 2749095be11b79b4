/**
 * Run an oclif command class in-process (the TypeScript source, no build) and capture what it prints
 * and the exit code it would give the shell, the same way bin/run.js would.
 */
import { fileURLToPath } from 'node:url';
import { format } from 'node:util';

export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface CommandRun {
  code: number;
  stdout: string;
  stderr: string;
  result: unknown;
  /** stdout parsed as JSON (for --json runs); undefined when it is not JSON. */
  json: any;
}

export async function runCommand(cmd: { run(argv?: string[], opts?: string): Promise<unknown> }, argv: string[], env: Record<string, string | undefined> = {}): Promise<CommandRun> {
  const out: string[] = [];
  const err: string[] = [];
  const writeOut = process.stdout.write;
  const writeErr = process.stderr.write;
  const { log, error } = console;
  const savedExit = process.exitCode;
  const savedEnv = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  process.exitCode = undefined;
  Object.assign(process.env, env);
  process.stdout.write = ((chunk: unknown) => (out.push(String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: unknown) => (err.push(String(chunk)), true)) as typeof process.stderr.write;
  // oclif prints through console.log / console.error, which vitest intercepts.
  console.log = (...args: unknown[]) => void out.push(format(...args) + '\n');
  console.error = (...args: unknown[]) => void err.push(format(...args) + '\n');
  let code: number;
  let result: unknown;
  try {
    result = await cmd.run(argv, PACKAGE_ROOT);
    code = Number(process.exitCode ?? 0);
  } catch (e) {
    const exit = (e as { oclif?: { exit?: number } }).oclif?.exit;
    if (exit === undefined && process.exitCode === undefined) {
      err.push(`uncaught: ${(e as Error).stack}`);
      code = 1;
    } else code = Number(exit ?? process.exitCode);
  } finally {
    process.stdout.write = writeOut;
    process.stderr.write = writeErr;
    console.log = log;
    console.error = error;
    process.exitCode = savedExit;
    for (const [k, v] of Object.entries(savedEnv)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  const stdout = out.join('');
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch {
    json = undefined;
  }
  return { code, stdout, stderr: err.join(''), result, json };
}
