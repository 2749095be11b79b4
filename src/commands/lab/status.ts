import { FlanctlCommand } from '../../command.js';
import { ExitCode } from '../../errors.js';
import { labStatus } from '../../lab/lab.js';
import { dirFlag } from '../../lab/cli-flags.js';

const mark = (ok: boolean) => (ok ? 'ok' : 'DOWN');

export default class LabStatus extends FlanctlCommand<typeof LabStatus> {
  static summary = 'Show the lab: nodes, addresses, PIDs, each node\'s init and whether sshd, supervisord (or systemd: is-system-running) and etcd answer.';
  static description = 'Exits 1 when the lab does not exist or something it recorded is not running or not answering.';
  static examples = ['<%= config.bin %> lab status', '<%= config.bin %> lab status --json'];

  static flags = { dir: dirFlag };

  async run(): Promise<unknown> {
    const st = await labStatus(this.flags.dir);
    if (!st.exists) {
      this.say(`no lab in ${st.dir} (start one with \`flanctl lab up\`)`);
    } else {
      this.say(`lab ${st.dir}`);
      if (st.bridge) this.say(`  bridge ${st.bridge.name} ${st.bridge.address} ${st.bridge.present ? 'ok' : 'MISSING'}`);
      if (st.etcd) this.say(`  etcd   ${st.etcd.endpoint} pid ${st.etcd.pid ?? '-'} ${st.etcd.healthy ? 'healthy' : st.etcd.running ? 'NOT HEALTHY' : 'NOT RUNNING'}`);
      if (st.inventory) this.say(`  inventory ${st.inventory}`);
      this.say('');
      const rows = [['NODE', 'ADDRESS', 'NETNS', 'PID', 'SSHD', 'INIT', 'STATE']].concat(
        st.nodes.map((n) => [n.name, n.ip, n.netns, n.running ? String(n.pid ?? 'rebooting') : 'stopped', mark(n.sshd), n.init,
          n.init === 'systemd' ? (n.system ?? '-') : n.supervisord ? 'ok' : 'DOWN']),
      );
      const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
      for (const r of rows) this.say('  ' + r.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd());
    }
    if (!st.healthy) this.setExitCode(ExitCode.failure);
    return st;
  }
}
