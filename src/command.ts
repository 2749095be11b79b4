/**
 * One base class for every command: shared flags, --json, and typed errors → exit codes (errors.ts).
 * Commands stay thin adapters: parse flags, call the library, print a human report, return the report.
 */
import { Command, Flags, Interfaces } from '@oclif/core';
import { ExitCode, FlanctlError, InventoryError, UsageError, exitCodeOf, errorMessage, type ExitCodeValue } from './errors.js';
import { installInterruptHandlers, signalExitCode } from './engine/interrupt.js';
import { interruptedLine, type Report } from './engine/report.js';
import { parseDuration } from './kv/lock.js';
import { loadInventory, type Inventory } from './model/inventory.js';
import { insecureEtcdWarning } from './model/network.js';
import { keyHygiene } from './pki/index.js';

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof FlanctlCommand)['baseFlags'] & T['flags']>;

export abstract class FlanctlCommand<T extends typeof Command = typeof Command> extends Command {
  static enableJsonFlag = true;

  static baseFlags = {
    inventory: Flags.string({
      char: 'i',
      summary: 'Path of the inventory file.',
      env: 'FLANCTL_INVENTORY',
      default: 'inventory.yaml',
      helpGroup: 'GLOBAL',
    }),
  };

  /** Flags shared by commands that change hosts. */
  static changeFlags = {
    'dry-run': Flags.boolean({ summary: 'Show what would change and change nothing.' }),
    concurrency: Flags.integer({ summary: 'Hosts handled at once (default: ssh.concurrency from the inventory).', min: 1, max: 256 }),
    yes: Flags.boolean({ char: 'y', summary: 'Do not ask for confirmation.' }),
    'wait-lock': Flags.string({ summary: "Wait up to DURATION (90s, 5m, 1h) for another flanctl's cluster lock instead of failing at once.", helpValue: 'DURATION' }),
  };

  /** --limit (issue 16): change only these nodes; see model/selection.ts. */
  static limitFlag = {
    limit: Flags.string({
      char: 'l',
      summary: 'Only these nodes: comma-separated names or globs (node3,node4 or "node[45]"); the others are still read as peers. An unknown name is exit 2.',
    }),
  };

  protected flags!: BaseFlags<T>;

  async init(): Promise<void> {
    await super.init();
    const { flags } = await this.parse({
      flags: this.ctor.flags,
      baseFlags: (this.ctor as typeof FlanctlCommand).baseFlags,
      enableJsonFlag: this.ctor.enableJsonFlag,
      args: this.ctor.args,
      strict: this.ctor.strict,
    });
    this.flags = flags as BaseFlags<T>;
  }

  protected async inventory(): Promise<Inventory> {
    const inv = await loadInventory((this.flags as { inventory: string }).inventory);
    // Security warnings on every run, on stderr (also under --json): plain-http etcd, keys in git, loose key modes.
    const insecure = insecureEtcdWarning(inv);
    for (const w of [...(insecure ? [insecure] : []), ...keyHygiene(inv.pki.dir)]) process.stderr.write(`Warning: ${w}\n`);
    return inv;
  }

  /** Human output; silent under --json. */
  protected say(text = ''): void {
    if (!this.jsonEnabled()) this.log(text);
  }

  /** --wait-lock in ms (0 when absent); a bad duration is a usage error. */
  protected lockWaitMs(): number {
    const text = (this.flags as { 'wait-lock'?: string })['wait-lock'];
    if (text === undefined) return 0;
    const ms = parseDuration(text);
    if (ms === undefined) throw new UsageError(`--wait-lock ${JSON.stringify(text.slice(0, 40))}: expected a duration such as 90s, 5m or 1h`);
    return ms;
  }

  /** Commands that change hosts: SIGINT/SIGTERM stop new work instead of killing the process mid-write. */
  protected catchInterrupts(what?: string): void {
    installInterruptHandlers((line) => process.stderr.write(`${line}\n`), what); // also under --json
  }

  /** After an interrupted run: the `interrupted: …` line (stderr, also with --json) and exit 130 / 143. */
  protected endInterrupted(report: Pick<Report, 'interrupted'> & Partial<Report>, rerun: string): boolean {
    if (!report.interrupted) return false;
    // stderr even under --json (oclif's logToStderr is silent then); stdout keeps the JSON report.
    const line = report.targets && report.summary ? interruptedLine(report as Report, rerun) : `interrupted (${report.interrupted}); run \`${rerun}\` to finish`;
    process.stderr.write(`${line}\n`);
    process.exitCode = signalExitCode(report.interrupted as NodeJS.Signals);
    return true;
  }

  /** Set the exit code for a command that still returns its report (e.g. verify → 3). */
  protected setExitCode(code: ExitCodeValue): void {
    process.exitCode = code;
  }

  protected async catch(err: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<unknown> {
    // oclif's own exits and flag-parsing errors keep their behaviour (parse errors exit 2).
    if (!(err instanceof FlanctlError)) {
      if (err.oclif?.exit !== undefined) return super.catch(err);
      if (err.constructor?.name?.endsWith('Error') && /Unexpected argument|Nonexistent flag|Missing required|Expected/.test(err.message)) {
        return super.catch(Object.assign(err, { oclif: { exit: ExitCode.usage } }));
      }
    }
    const code = exitCodeOf(err);
    if (this.jsonEnabled()) {
      const body: Record<string, unknown> = { error: { name: err.name, message: errorMessage(err), exitCode: code } };
      if (err instanceof InventoryError) (body.error as Record<string, unknown>).problems = err.problems;
      if (err instanceof FlanctlError && err.hint) (body.error as Record<string, unknown>).hint = err.hint;
      this.logJson(body);
    } else {
      this.logToStderr(`Error: ${errorMessage(err)}`);
      if (err instanceof FlanctlError && err.hint) this.logToStderr(`Hint: ${err.hint}`);
      if (!(err instanceof FlanctlError) && process.env.FLANCTL_DEBUG) this.logToStderr(err.stack ?? '');
    }
    process.exitCode = code;
    return this.exit(code);
  }
}
