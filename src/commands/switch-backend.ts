import { Args, Flags } from '@oclif/core';
import { FlanctlCommand } from '../command.js';
import { openPool } from '../connector/pool.js';
import { ExitCode, UsageError } from '../errors.js';
import { networkConfigText } from '../model/flannel-config.js';
import { backendSchema, type Backend } from '../model/inventory.js';
import { openKv } from '../kv/index.js';
import { peerRoutesStep } from '../steps/peer-routes.js';
import { startFlanneld, stopFlanneld } from '../steps/service.js';
import { askToProceed } from '../switch/confirm.js';
import { writeInventoryBackend } from '../switch/inventory-edit.js';
import { renderPlan } from '../switch/plan.js';
import { switchBackend, type SwitchReport } from '../switch/switch.js';
import { sleep } from '../steps/util.js';
import { runVerify } from '../verify/verify.js';

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

  private target(): Backend {
    const { backend: type } = this.args;
    const f = this.flags;
    const misuse = (flag: string) => new UsageError(`--${flag} does not apply to ${type}`);
    if (type === 'host-gw' && (f['direct-routing'] || f.vni !== undefined || f.port !== undefined)) throw misuse(f['direct-routing'] ? 'direct-routing' : f.vni !== undefined ? 'vni' : 'port');
    if (type !== 'vxlan' && f.vni !== undefined) throw misuse('vni');
    if (type === 'ipip' && f.port !== undefined) throw misuse('port');
    if (type === 'wireguard' && f['direct-routing']) throw misuse('direct-routing');
    const raw: Record<string, unknown> = { type };
    if (type === 'vxlan') Object.assign(raw, { vni: f.vni, port: f.port, directRouting: f['direct-routing'] });
    if (type === 'ipip') raw.directRouting = f['direct-routing'];
    if (type === 'wireguard') raw.listenPort = f.port;
    return backendSchema.parse(Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined)));
  }

  private args!: { backend: string };

  async run(): Promise<SwitchReport> {
    const { args } = await this.parse(SwitchBackend);
    this.args = args;
    const to = this.target();
    const inv = await this.inventory();
    const concurrency = this.flags.concurrency ?? inv.ssh.concurrency;
    const kv = await openKv(inv);
    const pool = openPool(inv);
    const log = (line: string) => this.say(line);
    try {
      const report = await switchBackend(
        inv,
        {
          to,
          force: this.flags.force,
          rollback: !this.flags['no-rollback'],
          dryRun: this.flags['dry-run'],
          confirm: async (lines) => {
            if (!this.flags.yes) return askToProceed(lines, 'switch-backend', log);
            for (const l of lines) log(l);
            return true;
          },
        },
        {
          get: (n) => pool.get(n),
          kv,
          stopService: (conn, i) => stopFlanneld(i, conn),
          startService: (conn, i) => startFlanneld(i, conn),
          verify: async (i, { probe }) => {
            const v = await runVerify(i, pool, kv, { probe, concurrency });
            return {
              ok: v.ok,
              failedPairs: v.pairs.filter((p) => !p.ok).map((p) => `${p.from} → ${p.to}`),
              failedChecks: v.checks.filter((c) => !c.ok).map((c) => `${c.node}: ${c.name}: ${c.detail}`),
            };
          },
          repairPeerRoutes: async (conn, i, node) => {
            const change = await peerRoutesStep(i, { settleMs: 5_000, repairTimeoutMs: 20_000 }).check({ inventory: i, node, conn, kv, touched: new Set() });
            if (!change) return undefined;
            await change.apply();
            return change.summary;
          },
          log,
          now: () => Date.now(),
          sleep,
          concurrency,
          leaseTimeoutMs: 60_000,
          verifyAttempts: 3,
          verifyIntervalMs: 2_000,
          configText: (i) => networkConfigText(i),
          writeInventory: async (b) => (await writeInventoryBackend(inv.file, b)).changed,
        },
      );
      if (report.outcome === 'dry-run') for (const l of renderPlan(report.plan!)) this.say(l);
      if (report.ok) this.say(report.message);
      else if (!this.jsonEnabled()) this.logToStderr(report.message);
      if (!report.ok) this.setExitCode(ExitCode.failure);
      if (report.inventoryUpdated) this.say(`${inv.file}: network.backend set to ${report.to}`);
      return report;
    } finally {
      await pool.closeAll();
      await kv.close();
    }
  }
}
