import { Flags } from '@oclif/core';
import { FlanctlCommand } from '../command.js';
import { ExitCode } from '../errors.js';
import { configMatches, lineDiff, networkConfig, networkConfigText, prettyJson } from '../model/flannel-config.js';
import { openKv } from '../kv/index.js';
import { configKey } from '../model/leases.js';
import { applyNetworkConfig } from '../kv/flannel-keys.js';

/** Hide the wireguard pre-shared key in anything printed. */
const redactPsk = (text: string | undefined) => text?.replace(/("PSK"\s*:\s*)"(?:[^"\\]|\\.)*"/gi, '$1"<redacted>"');

export default class NetworkConfig extends FlanctlCommand<typeof NetworkConfig> {
  static summary = 'Print the network config JSON flanneld reads, or write it to etcd.';
  static description = `Prints the exact value of <etcd.prefix>/config that the inventory describes, in flannel's key spelling (Network, SubnetLen, SubnetMin, SubnetMax, Backend with Type always set), on one line so it can be piped. With --apply it reads the current value through the configured etcd API (v3 or v2), writes only when it differs and prints a before/after diff. With --check it only compares and exits 3 when etcd differs. flanneld reads the config at start-up only: restart it (or run bootstrap) after a change.`;
  static examples = [
    { description: 'Print the JSON', command: '<%= config.bin %> network-config' },
    { description: 'Write it to etcd (only if it differs), showing the diff', command: '<%= config.bin %> network-config --apply' },
    { description: 'Does etcd hold what the inventory says? (exit 3 if not)', command: '<%= config.bin %> network-config --check' },
    { description: 'Machine-readable result of an apply', command: '<%= config.bin %> network-config --apply --json' },
  ];
  static flags = {
    apply: Flags.boolean({ summary: 'Write the config to etcd when it differs.', exclusive: ['check'] }),
    check: Flags.boolean({ summary: 'Compare with etcd and exit 3 when it differs; write nothing.', exclusive: ['apply'] }),
  };

  async run(): Promise<unknown> {
    const inv = await this.inventory();
    const key = configKey(inv.etcd.prefix);
    const shown = networkConfigText(inv, { redact: true });
    if (!this.flags.apply && !this.flags.check) {
      this.say(shown);
      return { key, config: networkConfig(inv, { redact: true }), text: shown };
    }
    const kv = await openKv(inv);
    try {
      let result: { changed: boolean; before?: string; after: string };
      if (this.flags.apply) result = await applyNetworkConfig(kv, inv);
      else {
        const before = await kv.get(key);
        const after = networkConfigText(inv);
        result = { changed: !configMatches(before, after), before, after };
      }
      const before = redactPsk(result.before);
      const after = redactPsk(result.after)!;
      const verb = this.flags.apply ? (result.changed ? 'written' : 'unchanged') : result.changed ? 'differs' : 'in sync';
      this.say(`${key} (etcd ${inv.etcd.api} at ${inv.etcd.endpoints.join(', ')}): ${verb}`);
      if (result.changed) {
        if (before === undefined) this.say('  (the key did not exist)');
        for (const line of lineDiff(prettyJson(before), prettyJson(after))) this.say(`  ${line}`);
        if (this.flags.apply) this.say('flanneld reads this at start-up only: restart flanneld on every node (or run `flanctl bootstrap`).');
      }
      if (this.flags.check && result.changed) this.setExitCode(ExitCode.drift);
      return { key, api: inv.etcd.api, mode: this.flags.apply ? 'apply' : 'check', changed: result.changed, before, after };
    } finally {
      await kv.close();
    }
  }
}
