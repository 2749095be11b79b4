/**
 * Connector on this machine: child_process with an argv array (never a shell). An optional argv
 * prefix (e.g. ['nsenter', '-t', pid, '-n', '-m', '-u', '-i', '-p'] for a lab node, or
 * ['sudo', '-n']) is put in front of every command; read and write then go through the prefix too
 * (cat / temp file + mv), so they see the node's own mount namespace.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ExecError } from '../errors.js';
import type { Connector, ExecOptions, ExecResult } from './connector.js';
import { MISSING_EXIT, readArgv, writeArgv } from './remote-scripts.js';

export interface LocalConnectorOptions {
  name: string;
  prefix?: string[];
}

interface RawResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

function spawnRaw(argv: string[], opts: ExecOptions = {}): Promise<RawResult> {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          child.kill('SIGKILL');
        }, opts.timeoutMs)
      : undefined;
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => {}); // EPIPE when the command does not read stdin
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      resolve({ code: 127, stdout: Buffer.alloc(0), stderr: `${argv[0]}: ${e.message}` });
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      let stderr = Buffer.concat(err).toString('utf8');
      if (timedOut) stderr += `\n(timed out after ${opts.timeoutMs} ms)`;
      else if (signal) stderr += `\n(killed by ${signal})`;
      resolve({ code: timedOut ? 124 : code ?? 255, stdout: Buffer.concat(out), stderr });
    });
    child.stdin.end(opts.stdin ?? undefined);
  });
}

export function localConnector(opts: LocalConnectorOptions): Connector {
  const prefix = opts.prefix ?? [];
  const full = (argv: string[]) => [...prefix, ...argv];

  return {
    name: opts.name,

    async exec(argv, execOpts) {
      const r = await spawnRaw(full(argv), execOpts);
      return { code: r.code, stdout: r.stdout.toString('utf8'), stderr: r.stderr } satisfies ExecResult;
    },

    async read(path) {
      if (prefix.length === 0) {
        try {
          return await readFile(path);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
          throw e;
        }
      }
      const argv = readArgv(path);
      const r = await spawnRaw(full(argv));
      if (r.code === MISSING_EXIT) return undefined;
      if (r.code !== 0) throw new ExecError(opts.name, ['cat', path], r.code, r.stderr);
      return r.stdout;
    },

    async write(path, content, mode) {
      if (prefix.length === 0) {
        await mkdir(dirname(path), { recursive: true, mode: 0o755 });
        const tmp = join(dirname(path), `.${basename(path)}.flanctl-${randomBytes(8).toString('hex')}`);
        try {
          await writeFile(tmp, content, { mode, flag: 'wx' }); // exclusive: never through a planted symlink
          await chmod(tmp, mode);
          await rename(tmp, path);
        } catch (e) {
          await rm(tmp, { force: true });
          throw e;
        }
        return;
      }
      const r = await spawnRaw(full(writeArgv(path, mode)), { stdin: content });
      if (r.code !== 0) throw new ExecError(opts.name, ['write', path], r.code, r.stderr);
    },

    async close() {},
  };
}
