/**
 * The host seam (DESIGN.md §3). Every implementation resolves exec() for any exit code;
 * `run()` below is the one helper that turns a non-zero exit into an ExecError.
 */
import { ExecError } from '../errors.js';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  stdin?: string | Buffer;
  timeoutMs?: number;
}

export interface Connector {
  /** A name for messages: the node name or host. */
  readonly name: string;
  exec(argv: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** The file's content, or undefined when it does not exist. */
  read(path: string): Promise<Buffer | undefined>;
  /** Atomic write: temp file in the same directory + rename; creates parent dirs (0755). */
  write(path: string, content: string | Buffer, mode: number): Promise<void>;
  close(): Promise<void>;
}

/** exec() that throws ExecError on a non-zero exit; returns stdout. */
export async function run(conn: Connector, argv: string[], opts?: ExecOptions): Promise<string> {
  const r = await conn.exec(argv, opts);
  if (r.code !== 0) throw new ExecError(conn.name, argv, r.code, r.stderr || r.stdout);
  return r.stdout;
}
