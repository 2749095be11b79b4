/**
 * Each emulated flanneld release (stand-in v0.11.0 over etcd v2, v0.20.2 and v0.22.3 over v3) on one
 * 3-node lab (root; must run under CI=true), through the built CLI: `lab up --release R` rewrites the
 * inventory (tarball, etcd.api); then host-gw: bootstrap, verify, plan, idempotent rerun (0 changes,
 * 0 restarts); switch-backend vxlan; vxlan: verify, plan, idempotent rerun; reset. With v0.20.2 and
 * `lab up --watch-bug`, a simultaneous restart of every node after flannel.1 was recreated leaves a
 * stale neighbour/FDB entry (or a missing peer) on some node, which verify's peers check reports (exit 3)
 * and bootstrap repairs; with v0.22.3 nothing is stale.
 * Prints bootstrap / verify times per release (3 nodes); no timing is asserted.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadInventory, type Inventory } from '../../src/model/inventory.js';
import type { Lease } from '../../src/model/leases.js';
import { standinTarball } from '../../src/lab/standin.js';
import { leasesOf, startLab, type TestLab } from '../helpers/lab.js';
import { describeRoot } from '../helpers/root.js';
import { cli, showCli, type CliResult } from '../helpers/cli.js';

const RELEASES = ['v0.11.0', 'v0.20.2', 'v0.22.3'] as const;
type Release = (typeof RELEASES)[number];

/** What a node's kernel holds for a peer that its lease does not say (empty = consistent). */
export function stalePeerState(
  node: { name: string; ip: string },
  leases: Lease[],
  kernel: { routes: { dst: string }[]; neigh: { dst: string; lladdr?: string }[]; fdb: { mac: string; dst?: string }[] },
): string[] {
  const out: string[] = [];
  for (const l of leases.filter((x) => x.publicIp !== node.ip && x.backendType === 'vxlan')) {
    const mac = String((l.backendData as { VtepMAC?: string } | undefined)?.VtepMAC ?? '');
    const gw = l.subnet.split('/')[0];
    if (!kernel.routes.some((r) => r.dst === l.subnet)) out.push(`${node.name}: no route to ${l.subnet}`);
    const n = kernel.neigh.find((e) => e.dst === gw);
    if (n?.lladdr !== mac) out.push(`${node.name}: neighbour ${gw} lladdr ${n?.lladdr ?? 'none'}, lease says ${mac}`);
    if (!kernel.fdb.some((e) => e.mac === mac && e.dst === l.publicIp)) out.push(`${node.name}: no FDB entry ${mac} dst ${l.publicIp}`);
  }
  return out;
}

describeRoot('each emulated flanneld release on a 3-node lab', () => {
  let lab: TestLab;
  const times: string[] = [];

  const inv = () => lab.inventoryPath;
  const timed = async (label: string, args: string[]): Promise<CliResult> => {
    const t0 = Date.now();
    const r = await cli(args);
    times.push(`${label}: ${((Date.now() - t0) / 1000).toFixed(2)} s`);
    return r;
  };
  const labUp = async (release: Release, watchBug = false) => {
    // The 1 s gap before each new etcd watch widens the window in which v0.20.2 loses events (v0.22.3 ignores it).
    const r = await cli(['lab', 'up', '--dir', lab.dir, '--nodes', '3', '--release', release, ...(watchBug ? ['--watch-bug', '--watch-bug-gap', '1000'] : [])]);
    expect(r.code, showCli(r)).toBe(0);
  };
  const pids = async () => {
    const out: Record<string, string> = {};
    for (const n of lab.nodes) {
      const r = await lab.exec(n.name, ['supervisorctl', 'status', 'flanneld']);
      out[n.name] = /RUNNING\s+pid (\d+)/.exec(r.stdout)?.[1] ?? `not running: ${r.stdout.trim()}`;
    }
    return out;
  };
  const json = async (node: string, argv: string[]) => JSON.parse((await lab.exec(node, argv)).stdout || '[]');
  const stale = async (i: Inventory) => {
    const all = await leasesOf(i);
    const out: string[] = [];
    for (const n of lab.nodes) {
      out.push(...stalePeerState(n, all, {
        routes: await json(n.name, ['ip', '-4', '-j', 'route', 'show']),
        neigh: await json(n.name, ['ip', '-4', '-j', 'neigh', 'show', 'dev', 'flannel.1']),
        fdb: await json(n.name, ['bridge', '-j', 'fdb', 'show', 'dev', 'flannel.1']),
      }));
    }
    return out;
  };

  async function cell(release: Release, backend: string) {
    const v = await timed(`${release} ${backend} verify`, ['verify', '-i', inv(), ...(backend === 'host-gw' ? ['--probe'] : [])]);
    expect(v.code, showCli(v)).toBe(0);
    expect(v.stdout).toContain('6/6 pairs ok');
    const plan = await cli(['plan', '-i', inv(), '--detailed-exitcode']);
    expect(plan.code, showCli(plan)).toBe(0);
    const before = await pids();
    const again = await timed(`${release} ${backend} rerun`, ['bootstrap', '-i', inv(), '--json', '--no-verify']);
    expect(again.code, showCli(again)).toBe(0);
    expect(again.json.summary).toMatchObject({ changed: 0, restarts: 0, failed: 0 });
    expect(await pids()).toEqual(before);
  }

  /** Stop flanneld everywhere, delete flannel.1 everywhere, start flanneld on every node at once. */
  async function simultaneousRestart(i: Inventory) {
    await Promise.all(lab.nodes.map((n) => lab.exec(n.name, ['supervisorctl', 'stop', 'flanneld'])));
    await Promise.all(lab.nodes.map((n) => lab.exec(n.name, ['ip', 'link', 'del', 'flannel.1'])));
    const started = await Promise.all(lab.nodes.map((n) => lab.exec(n.name, ['supervisorctl', 'start', 'flanneld'])));
    for (const s of started) expect(s.stdout).toMatch(/started/);
    // Every lease carries its node's new VtepMAC …
    for (let k = 0; ; k++) {
      const all = await leasesOf(i);
      const macs = await Promise.all(lab.nodes.map(async (n) => (await json(n.name, ['ip', '-j', 'link', 'show', 'flannel.1']))[0]?.address));
      if (lab.nodes.every((n, j) => all.some((l) => l.publicIp === n.ip && (l.backendData as { VtepMAC?: string })?.VtepMAC === macs[j]))) break;
      if (k > 60) throw new Error('leases did not get the new VtepMACs');
      await new Promise((r) => setTimeout(r, 500));
    }
    // … and every flanneld has had a few watch polls (1 s each) to learn them.
    await new Promise((r) => setTimeout(r, 4000));
  }

  beforeAll(async () => {
    lab = await startLab({ nodes: 3, tarball: standinTarball('v0.11.0', 'light') });
  }, 300_000);

  afterAll(async () => {
    if (times.length) console.log(`flanctl with each emulated release (3 lab nodes):\n  ${times.join('\n  ')}`);
    await lab?.down();
  }, 120_000);

  for (const release of RELEASES) {
    it(`${release}: host-gw bootstrap, verify, plan, idempotent rerun; switch to vxlan, bootstrap, verify, plan, rerun${release === 'v0.11.0' ? '' : '; simultaneous restart'}; reset`, async () => {
      await labUp(release);
      try {
        await releaseCell(release);
      } finally {
        // Every release starts from a reset lab, whatever happened (reset with this release's API).
        const reset = await cli(['reset', '-i', inv(), '--yes']);
        expect(reset.code, showCli(reset)).toBe(0);
      }
    }, 600_000);
  }

  async function releaseCell(release: Release) {
    const doc = parseDocument(readFileSync(inv(), 'utf8'));
    expect(doc.getIn(['flannel', 'tarball'])).toContain(`flannel-${release}-standin-linux-amd64.tar.gz`);
    expect(doc.getIn(['etcd', 'api'])).toBe(release === 'v0.11.0' ? 'v2' : 'v3');
    doc.setIn(['network', 'backend'], doc.createNode({ type: 'host-gw' }));
    writeFileSync(inv(), doc.toString());

    const boot = await timed(`${release} host-gw bootstrap`, ['bootstrap', '-i', inv(), '--json']);
    expect(boot.code, showCli(boot)).toBe(0);
    expect(boot.json.verify.ok).toBe(true);
    const version = await lab.exec('node1', ['/opt/flannel/bin/flanneld', '-version']);
    expect(version.stderr.split('\n')[0]).toBe(release);
    const i = await loadInventory(inv());
    const ls = await leasesOf(i);
    expect(ls.map((l) => l.backendType)).toEqual(['host-gw', 'host-gw', 'host-gw']);
    await cell(release, 'host-gw');

    const sw = await timed(`${release} switch-backend host-gw → vxlan`, ['switch-backend', 'vxlan', '-i', inv(), '--yes', '--json']);
    expect(sw.code, showCli(sw)).toBe(0);
    expect(sw.json.outcome).toBe('switched');
    // switch-backend also updated /etc/modules-load.d/flanctl.conf (issue 10): bootstrap restarts nothing.
    const vboot = await timed(`${release} vxlan bootstrap after the switch`, ['bootstrap', '-i', inv(), '--json']);
    expect(vboot.code, showCli(vboot)).toBe(0);
    expect(vboot.json.summary.restarts).toBe(0);
    const vx = await leasesOf(i);
    expect(vx.every((l) => l.backendType === 'vxlan')).toBe(true);
    // Lease JSON of the release: v0.11.0 has no VNI and no PublicIPv6.
    expect(vx.every((l) => (l.backendData as { VNI?: number }).VNI === (release === 'v0.11.0' ? undefined : 1))).toBe(true);
    await cell(release, 'vxlan');

    if (release !== 'v0.11.0') {
      // The watch bug switched on (only v0.20.2 has it): all nodes restart together after flannel.1 was recreated.
      await labUp(release, true);
      // The bug needs a peer's new lease to land while the node is between watches (widened to 1 s by
      // --watch-bug-gap): a restart that left nothing stale is tried again (v0.20.2 only).
      let found: string[] = [];
      for (let attempt = 1; attempt <= 3; attempt++) {
        await simultaneousRestart(i);
        found = await stale(i);
        if (found.length || release !== 'v0.20.2') break;
        console.log(`${release}: restart ${attempt} was not simultaneous enough to trigger the watch bug; again`);
      }
      if (release === 'v0.20.2') {
        expect(found.length, 'v0.20.2 leaves stale peer state after a simultaneous restart').toBeGreaterThan(0);
        const logs = await Promise.all(lab.nodes.map((n) => lab.exec(n.name, ['cat', '/var/log/flanneld/flanneld.log'])));
        expect(logs.map((l) => l.stdout).join('\n')).toContain('v0.20.2 watch bug');
        console.log(`v0.20.2 stale peer state after a simultaneous restart:\n  ${found.join('\n  ')}`);
      // flanctl detects it (verify's peers check, exit 3) and bootstrap repairs it (issue 13 items 2–3).
      const v = await cli(['verify', '-i', inv(), '--json']);
      expect(v.code, showCli(v)).toBe(3);
      const staleNodes = new Set(found.map((f) => f.split(':')[0]));
      const failedPeers = v.json.checks.filter((c: { name: string; ok: boolean }) => c.name === 'peers' && !c.ok).map((c: { node: string }) => c.node);
      expect(new Set(failedPeers)).toEqual(staleNodes);
      const fix = await timed('v0.20.2 bootstrap repairing the stale nodes', ['bootstrap', '-i', inv(), '--json']);
      expect(fix.code, showCli(fix)).toBe(0);
      expect(fix.json.verify.ok).toBe(true);
      expect(await stale(i)).toEqual([]);
      } else {
        expect(found).toEqual([]);
      }
      await labUp(release); // the switch off again
    }
  }
});
