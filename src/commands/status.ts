import { FlanctlCommand } from '../command.js';
import { openKv } from '../kv/index.js';
import { lockNotice } from '../kv/lock.js';
import { readStatus, renderStatus, type StatusReport } from '../verify/status.js';

export default class Status extends FlanctlCommand<typeof Status> {
  static summary = 'Show the subnet leases in etcd joined with the inventory.';
  static description = `One row per lease under <prefix>/subnets: subnet, node (matched by PublicIP), public IP, backend type, VtepMAC and time left on the lease.
Leases of hosts not in the inventory and inventory nodes without a lease are flagged. Works with etcd.api v3 and v2.`;
  static examples = ['<%= config.bin %> status', '<%= config.bin %> status --json | jq ".leases[] | {subnet, node}"'];

  async run(): Promise<StatusReport> {
    const inv = await this.inventory();
    const kv = await openKv(inv);
    try {
      const report = await readStatus(inv, kv);
      const busy = await lockNotice(kv, inv.etcd.prefix);
      if (busy) this.logToStderr(busy);
      this.say(renderStatus(report));
      return report;
    } finally {
      await kv.close();
    }
  }
}
