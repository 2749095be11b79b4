import { existsSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Flags } from '@oclif/core';
import { FlanctlCommand } from '../command.js';
import { UsageError } from '../errors.js';
import { openPool } from '../connector/pool.js';
import { openKv } from '../kv/index.js';
import { lockNotice } from '../kv/lock.js';
import { limitedNames } from '../model/selection.js';
import { renderHtml } from '../verify/html.js';
import { renderJunit } from '../verify/junit.js';
import { renderReport } from '../verify/matrix.js';
import { runVerify, verifyExitCode, type VerifyReport } from '../verify/verify.js';

export default class Verify extends FlanctlCommand<typeof Verify> {
  static summary = 'Ping every node from every node over the overlay and run health checks on each node.';
  static description = `Reachability: from each node, all peers' overlay addresses are pinged at once (vxlan/ipip/wireguard: the peer lease's .0; host-gw: the peer's FLANNEL_SUBNET .1 on its bridge, or on a temporary flanctl-probe interface with --probe).
Checks per node: flanneld service, subnet.env vs lease, lease PublicIP/BackendType, flannel.<VNI> (vxlan), routes per peer lease, flanctl's iptables rules, /healthz, flanneld cert expiry; --mtu adds don't-fragment pings at FLANNEL_MTU.
Exit 0 when everything passes, 3 when any pair or check fails, 1 when verify cannot run (etcd or SSH unreachable).`;
  static examples = [
    '<%= config.bin %> verify',
    '<%= config.bin %> verify --probe --mtu',
    '<%= config.bin %> verify --junit verify.xml --json > verify.json',
    '<%= config.bin %> verify --html report.html',
  ];
  static flags = {
    ...FlanctlCommand.limitFlag,
    probe: Flags.boolean({ summary: 'host-gw: add a temporary flanctl-probe interface holding FLANNEL_SUBNET .1 where no bridge holds it (removed afterwards).' }),
    mtu: Flags.boolean({ summary: 'Also ping every peer with -M do -s <FLANNEL_MTU − 28> to find MTU black holes.' }),
    'warn-days': Flags.integer({ summary: 'Fail the cert check when the flanneld cert expires within this many days.', default: 30, min: 0 }),
    junit: Flags.string({ summary: 'Write a JUnit XML report (one testcase per pair and per check) to this file.' }),
    pods: Flags.boolean({ summary: 'Also prove the pod network: a throwaway pod per node (CNI ADD/DEL when cni.enabled), pod ↔ pod with source addresses, masquerade out; removed afterwards.' }),
    html: Flags.string({ summary: 'Write a self-contained HTML report (grid, checks, versions, leases, certs) to this file.' }),
    concurrency: Flags.integer({ summary: 'Nodes handled at once (default: ssh.concurrency from the inventory).', min: 1, max: 256 }),
  };

  async run(): Promise<VerifyReport> {
    const html = this.flags.html && resolve(this.flags.html);
    if (html && !existsSync(dirname(html))) throw new UsageError(`--html ${this.flags.html}: directory ${dirname(html)} does not exist`);
    const inv = await this.inventory();
    const only = limitedNames(inv, this.flags.limit);
    const kv = await openKv(inv);
    const pool = openPool(inv);
    let notice: Promise<void> | undefined;
    try {
      const running = runVerify(inv, pool, kv, {
        probe: this.flags.probe,
        mtu: this.flags.mtu,
        warnDays: this.flags['warn-days'],
        concurrency: this.flags.concurrency,
        pods: this.flags.pods,
        only,
      });
      // The lock is read alongside verify's own reads (lockNotice never throws), noted before the report.
      notice = lockNotice(kv, inv.etcd.prefix).then((busy) => {
        if (busy) this.logToStderr(busy);
      });
      const report = await running;
      await notice;
      if (this.flags.junit) writeFileSync(resolve(this.flags.junit), renderJunit(report));
      if (html) writeFileSync(html, renderHtml(report));
      this.say(renderReport(report));
      this.setExitCode(verifyExitCode(report));
      return report;
    } finally {
      await notice;
      await pool.closeAll();
      await kv.close();
    }
  }
}
