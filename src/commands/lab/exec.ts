import { Args } from '@oclif/core';
import { FlanctlCommand } from '../../command.js';
import { UsageError } from '../../errors.js';
import { labExec } from '../../lab/lab.js';
import { dirFlag } from '../../lab/cli-flags.js';

export default class LabExec extends FlanctlCommand<typeof LabExec> {
  static summary = 'Run a command inside a lab node, without SSH (nsenter); its exit code is passed through.';
  static examples = [
    '<%= config.bin %> lab exec node1 -- ip -br addr',
    '<%= config.bin %> lab exec node2 -- supervisorctl status',
    '<%= config.bin %> lab exec node1 -- bash',
  ];

  static enableJsonFlag = false;
  static strict = false;
  static args = { node: Args.string({ description: 'Node name (node1, node2, …).', required: true }) };
  static flags = { dir: dirFlag };

  async run(): Promise<unknown> {
    const { args, argv } = await this.parse(LabExec);
    const cmd = (argv as string[]).slice(1);
    if (!cmd.length) throw new UsageError('no command given (usage: flanctl lab exec <node> -- <cmd…>)');
    const r = await labExec(this.flags.dir, args.node, cmd, { inherit: true });
    if (r.stderr) this.logToStderr(r.stderr);
    process.exitCode = r.code;
    return { node: args.node, code: r.code };
  }
}
