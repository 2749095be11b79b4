import { Flags } from '@oclif/core';
import { FlanctlCommand } from '../command.js';
import { openPool } from '../connector/pool.js';
import { openKv } from '../kv/index.js';
import { lockNotice } from '../kv/lock.js';
import { readStatus, renderStatus, type StatusReport } from '../verify/status.js';
import { readNodeCerts, renderNodeCerts, type NodeCert } from '../verify/status-certs.js';

export default class Status extends FlanctlCommand<typeof Status> {
  static summary = 'Show the subnet leases in etcd joined with the inventory, and each node\'s flanneld certificate expiry.';
  static description = `One row per lease under <prefix>/subnets: subnet, node (matched by PublicIP), public IP, backend type, VtepMAC and time left on the lease.
Leases of hosts not in the inventory and inventory nodes without a lease are flagged. Works with etcd.api v3 and v2.
Then the expiry of the flanneld certificate as installed on each node (read over SSH, not the control machine's copy), flagged under --warn-days; --no-certs skips it.`;
  static examples = ['<%= config.bin %> status', '<%= config.bin %> status --json | jq ".leases[] | {subnet, node}"', '<%= config.bin %> status --json | jq ".certs"'];
  static flags = {
    certs: Flags.boolean({ summary: 'Read each node\'s flanneld certificate over SSH (--no-certs: etcd only).', default: true, allowNo: true }),
    'warn-days': Flags.integer({ summary: 'Flag certificates expiring within this many days.', default: 30, min: 0 }),
  };

  async run(): Promise<StatusReport & { certs?: NodeCert[] }> {
    const inv = await this.inventory();
    const kv = await openKv(inv);
    const pool = this.flags.certs ? openPool(inv) : undefined;
    try {
      // The nodes' certificates are read over SSH while etcd is read (the SSH connects first, so they
      // are dialled before the etcd client loads: load-order.ts); an etcd failure is still the error.
      const certsRead = pool ? readNodeCerts(inv, pool) : undefined;
      const [report, busy] = await Promise.all([readStatus(inv, kv), lockNotice(kv, inv.etcd.prefix)]);
      if (busy) this.logToStderr(busy);
      this.say(renderStatus(report));
      if (!certsRead) return report;
      const certs = await certsRead;
      for (const l of renderNodeCerts(certs, this.flags['warn-days'])) this.say(l);
      return { ...report, certs };
    } finally {
      await pool?.closeAll();
      await kv.close();
    }
  }
}
