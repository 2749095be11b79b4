/**
 * Typed errors and the one place they map to exit codes (DESIGN.md §3):
 * 0 ok · 1 failure on a host or in etcd · 2 bad usage or invalid inventory · 3 verify found drift.
 */
export const ExitCode = { ok: 0, failure: 1, usage: 2, drift: 3 } as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export class FlanctlError extends Error {
  readonly exitCode: ExitCodeValue = ExitCode.failure;
  /** What the operator can do about it, printed under the message. */
  readonly hint?: string;
  constructor(message: string, opts: { hint?: string; cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.name = new.target.name;
    this.hint = opts.hint;
  }
}

/** One problem in the inventory, located by its YAML path and line. */
export interface InventoryProblem {
  path: string; // e.g. "nodes[2].host"
  message: string;
  line?: number;
}

export class InventoryError extends FlanctlError {
  override readonly exitCode = ExitCode.usage;
  readonly file: string;
  readonly problems: InventoryProblem[];
  constructor(file: string, problems: InventoryProblem[], hint?: string) {
    super(
      `${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n` +
        problems.map((p) => `  ${p.line ? `line ${p.line}: ` : ''}${p.path}: ${p.message}`).join('\n'),
      { hint },
    );
    this.file = file;
    this.problems = problems;
  }
}

export class UsageError extends FlanctlError {
  override readonly exitCode = ExitCode.usage;
}

/** A remote (or local) command exited non-zero. */
export class ExecError extends FlanctlError {
  readonly host: string;
  readonly argv: string[];
  readonly code: number;
  readonly stderr: string;
  constructor(host: string, argv: string[], code: number, stderr: string, hint?: string) {
    const tail = stderr.trim().split('\n').slice(-5).join('\n    ');
    super(`${host}: \`${argv.join(' ')}\` exited ${code}${tail ? `:\n    ${tail}` : ''}`, { hint });
    this.host = host;
    this.argv = argv;
    this.code = code;
    this.stderr = stderr;
  }
}

export class SshError extends FlanctlError {}

/** A node stopped answering (keepalives unanswered): the connection was given up. */
export class NoAnswerError extends SshError {
  constructor(readonly host: string, readonly seconds: number) {
    super(`${host}: no answer for ${seconds} s (timed out)`, { hint: 'The node (or its sshd) is frozen, overloaded or cut off; the other nodes were not affected. Rerun once it answers.' });
  }
  /** The message with the step that was running: `node3: no answer for 15 s during "flanneld service" (timed out)`. */
  during(step: string): string {
    return `${this.host}: no answer for ${this.seconds} s during "${step}" (timed out)`;
  }
}
export class HostKeyError extends FlanctlError {}
export class EtcdError extends FlanctlError {}
export class PkiError extends FlanctlError {}

/** Verification found drift or unreachable pairs: exit 3. */
export class DriftError extends FlanctlError {
  override readonly exitCode = ExitCode.drift;
}

export function exitCodeOf(err: unknown): ExitCodeValue {
  return err instanceof FlanctlError ? err.exitCode : ExitCode.failure;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
