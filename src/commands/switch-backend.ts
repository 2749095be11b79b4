import { Args, Flags } from '@oclif/core';
import { FlanctlCommand } from '../command.js';
import { ExitCode } from '../errors.js';
import { interrupted } from '../engine/interrupt.js';
import { renderPlan } from '../switch/plan.js';
import { backendFromFlags, runSwitchBackend } from '../switch/run.js';
import type { SwitchReport } from '../switch/switch.js';

export default class SwitchBackend extends FlanctlCommand<typeof SwitchBackend> {
  static summary = 'Change the backend of a running cluster safely, with cleanup, verify and automatic rollback.';
  static description = `Preflight (changes nothing when it fails): every node reachable; <prefix>/config in etcd equal to the inventory (else refused, exit 3, unless --force); the target's prerequisites on the real nodes (host-gw and DirectRouting: every pair of nodes on one L2 segment and public IP = iface address; vxlan: UDP port free; wireguard/ipip: kernel support).
Then the plan (devices, neighbour/FDB entries and routes that go, the config diff) is shown and confirmed unless --yes, and: flanneld is stopped on all nodes at once, the old backend's state removed per node, the new config written, flanneld started everywhere, every lease waited for with the new BackendType, and verify run (with probe addresses for host-gw). The downtime window (first stop → verify green) is printed.
On any failure after the first stop the previous config and backend are restored the same way and verified; the command then exits 1 saying what failed. On success network.backend in the inventory file is updated (comments kept).
Options not given take flannel's defaults (VNI 1, port 8472, no DirectRouting), not the current backend's.`;
  static examples = [
    '<%= config.bin %> switch-backend host-gw --dry-run',
    '<%= config.bin %> switch-backend vxlan --direct-routing --yes',
    '<%= config.bin %> switch-backend vxlan --vni 4096 --port 4789 --yes --json',
  ];
  static args = {
    backend: Args.string({ description: 'Target backend.', required: true, options: ['vxlan', 'host-gw', 'ipip', 'wireguard'] }),
  };
  static flags = {
    ...FlanctlCommand.changeFlags,
    'direct-routing': Flags.boolean({ summary: 'vxlan/ipip: route directly (no encapsulation) between nodes on one L2 segment.' }),
    vni: Flags.integer({ summary: 'vxlan: the VNI (default 1).', min: 1, max: 16777215 }),
    port: Flags.integer({ summary: 'vxlan: UDP port (default 8472); wireguard: listen port (default 51820).', min: 1, max: 65535 }),
    'no-rollback': Flags.boolean({ summary: 'On failure leave the cluster as it is instead of restoring the previous backend.' }),
    force: Flags.boolean({ summary: 'Switch even when <prefix>/config in etcd differs from the inventory (from what etcd holds).' }),
  };

  async run(): Promise<SwitchReport> {
    const { args, flags: f } = await this.parse(SwitchBackend);
    const to = backendFromFlags(args.backend, { directRouting: f['direct-routing'], vni: f.vni, port: f.port });
    const inv = await this.inventory();
    if (!f['dry-run']) this.catchInterrupts('switch-backend finishes its transition (or its rollback) first, so the cluster is not left half-switched');
    const report = await runSwitchBackend(inv, {
      to,
      force: f.force,
      rollback: !f['no-rollback'],
      dryRun: f['dry-run'],
      yes: f.yes,
      concurrency: f.concurrency ?? inv.ssh.concurrency,
      log: (line) => this.say(line),
      lockWaitMs: this.lockWaitMs(),
    });
    const sig = interrupted();
    if (report.outcome === 'dry-run') for (const l of renderPlan(report.plan!)) this.say(l);
    if (report.ok) this.say(report.message);
    else if (!this.jsonEnabled()) this.logToStderr(report.message);
    if (!report.ok) this.setExitCode(ExitCode.failure);
    if (report.inventoryUpdated) this.say(`${inv.file}: network.backend set to ${report.to}`);
    if (sig) this.endInterrupted({ interrupted: sig }, `flanctl switch-backend ${args.backend}`);
    return report;
  }
}
