/**
 * Day-2 operations end to end on ONE lab (issue 16), through the real CLI: add 2 nodes to a running
 * 3-node cluster (--limit), remove a reachable and an unreachable node, a reboot, a rolling upgrade
 * with a broken batch, certificate rotation, a host firewall REJECT rule both ways. Every case ends
 * with verify green and a second run reporting 0 changes. Root; must run under CI=true.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { labUp } from '../../src/lab/lab.js';
import { labPowerOff, labReboot } from '../../src/lab/node-ops.js';
import { loadInventory, type Inventory } from '../../src/model/inventory.js';
import { openKv } from '../../src/kv/index.js';
import { listLeases } from '../../src/kv/flannel-keys.js';
import type { Lease } from '../../src/model/leases.js';
import { flanctlRules, iptablesCheckArgv } from '../../src/steps/iptables.js';
import { startLab, type TestLab } from '../helpers/lab.js';
import { describeRoot } from '../helpers/root.js';
import { cli, showCli } from '../helpers/cli.js';

const root = resolve(import.meta.dirname, '../..');

async function leasesOf(inv: Inventory): Promise<Lease[]> {
  const kv = await openKv(inv);
  try {
    return await listLeases(kv, inv.etcd.prefix);
  } finally {
    await kv.close();
  }
}

async function flanneldPid(lab: TestLab, node: string): Promise<string> {
  const r = await lab.exec(node, ['supervisorctl', 'status', 'flanneld']);
  return /RUNNING\s+pid (\d+)/.exec(r.stdout)?.[1] ?? `not running: ${r.stdout.trim()}`;
}

describeRoot('day-2 operations on one lab (stand-in, etcd v3, supervisord)', () => {
  let lab: TestLab;
  let inventory: string;
  const inv = () => loadInventory(inventory);
  /** verify green over the whole inventory, and a second bootstrap changing nothing. */
  async function greenAndIdempotent(): Promise<void> {
    const v = await cli(['verify', '-i', inventory, '--json']);
    expect(v.code, showCli(v)).toBe(0);
    const again = await cli(['bootstrap', '-i', inventory, '--json', '--no-verify']);
    expect(again.code, showCli(again)).toBe(0);
    const changes = again.json.targets.flatMap((t: { name: string; steps: { id: string; status: string }[] }) => t.steps.filter((s) => s.status !== 'unchanged').map((s) => `${t.name} ${s.id} ${s.status}`));
    expect(changes).toEqual([]);
    expect(again.json.summary).toMatchObject({ changed: 0, restarts: 0, failed: 0 });
  }

  beforeAll(async () => {
    if (!existsSync(join(root, 'dist/commands/node/remove.js'))) throw new Error('run `npm run build` first');
    lab = await startLab({ nodes: 3 });
    inventory = lab.inventoryPath;
    const r = await cli(['bootstrap', '-i', inventory, '--json']);
    expect(r.code, showCli(r)).toBe(0);
  });
  afterAll(async () => {
    await lab?.down();
  });

  it('--limit: an unknown name is exit 2 and changes nothing', async () => {
    for (const cmd of ['bootstrap', 'plan', 'verify', 'reset']) {
      const r = await cli([cmd, '-i', inventory, '--limit', 'node1,nodeX', ...(cmd === 'reset' ? ['--yes'] : [])]);
      expect(r.code, `${cmd}: ${showCli(r)}`).toBe(2);
      expect(r.stderr).toContain('--limit');
      expect(r.stderr).toContain('"nodeX"');
    }
  });

  it('adds 2 nodes to the running 3-node cluster: plan shows only them, bootstrap --limit restarts nothing elsewhere, verify covers the new pairs', async () => {
    const before = { node1: await flanneldPid(lab, 'node1'), node2: await flanneldPid(lab, 'node2'), node3: await flanneldPid(lab, 'node3') };
    await labUp({ dir: lab.dir, nodes: 5 }); // the lab adds node4, node5 and rewrites its inventory with them
    expect((await inv()).nodes.map((n) => n.name)).toEqual(['node1', 'node2', 'node3', 'node4', 'node5']);

    const plan = await cli(['plan', '-i', inventory, '--json']);
    expect(plan.code, showCli(plan)).toBe(0);
    const changed = plan.json.targets.filter((t: { steps: { status: string }[] }) => t.steps.some((s) => s.status === 'planned')).map((t: { name: string }) => t.name);
    expect(changed).toEqual(['node4', 'node5']);
    const human = await cli(['plan', '-i', inventory, '--limit', 'node[45]']);
    expect(human.stdout).toMatch(/on 2 nodes/);

    const r = await cli(['bootstrap', '-i', inventory, '--limit', 'node4,node5', '--json']);
    expect(r.code, showCli(r)).toBe(0);
    expect(r.json.targets.map((t: { name: string }) => t.name)).toEqual(['etcd', 'node4', 'node5']);
    expect(r.json.verify.ok).toBe(true);
    // Verify of the limited nodes covers every pair to or from them: 2×4 + 4×2 − 2 = 14.
    expect(r.json.verify.summary.pairs).toBe(14);
    for (const [n, pid] of Object.entries(before)) expect(await flanneldPid(lab, n), n).toBe(pid);

    const all = await cli(['verify', '-i', inventory, '--json']);
    expect(all.code, showCli(all)).toBe(0);
    expect(all.json.summary.pairs).toBe(20);
    await greenAndIdempotent();
  });

  it('removes a reachable node: flannel off it, lease freed, peers clean, inventory without it, rest verified', async () => {
    const node5 = (await inv()).nodes.find((n) => n.name === 'node5')!;
    const lease = (await leasesOf(await inv())).find((l) => l.publicIp === node5.publicIp)!;
    const before = readFileSync(inventory, 'utf8');
    const r = await cli(['node', 'remove', 'node5', '-i', inventory, '--yes', '--json']);
    expect(r.code, showCli(r)).toBe(0);
    expect(r.json.lease).toEqual({ subnet: lease.subnet, deleted: true });
    expect(r.json.verify.ok).toBe(true);
    expect((await leasesOf(await inv())).some((l) => l.publicIp === node5.publicIp)).toBe(false);
    expect((await lab.exec('node5', ['supervisorctl', 'status', 'flanneld'])).stdout).not.toMatch(/RUNNING/);
    expect((await lab.exec('node5', ['ip', 'link', 'show', 'flannel.1'])).code).not.toBe(0);
    for (const peer of ['node1', 'node2', 'node3', 'node4']) {
      expect((await lab.exec(peer, ['ip', 'route', 'show', lease.subnet])).stdout.trim(), peer).toBe('');
      expect((await lab.exec(peer, ['bridge', 'fdb', 'show', 'dev', 'flannel.1'])).stdout).not.toContain(`dst ${node5.publicIp}`);
    }
    const after = readFileSync(inventory, 'utf8');
    expect(after).not.toMatch(/name: node5/);
    expect(after.split('\n').filter((l) => l.startsWith('#'))).toEqual(before.split('\n').filter((l) => l.startsWith('#')));
    const again = await cli(['node', 'remove', 'node5', '-i', inventory, '--yes']);
    expect(again.code).toBe(2);
    await greenAndIdempotent();
  });

  it('removes an unreachable node (powered off): lease freed and peers cleaned by flanctl', async () => {
    const node4 = (await inv()).nodes.find((n) => n.name === 'node4')!;
    const lease = (await leasesOf(await inv())).find((l) => l.publicIp === node4.publicIp)!;
    await labPowerOff(lab.dir, 'node4');
    const refused = await cli(['node', 'remove', 'node4', '-i', inventory, '--yes']);
    expect(refused.code, showCli(refused)).toBe(1);
    expect(refused.stderr).toContain('--unreachable');
    expect((await leasesOf(await inv())).some((l) => l.publicIp === node4.publicIp)).toBe(true); // nothing changed
    // A peer whose flanneld missed the deletion: its entries stay until flanctl removes them.
    await lab.exec('node1', ['supervisorctl', 'stop', 'flanneld']);
    const r = await cli(['node', 'remove', 'node4', '-i', inventory, '--unreachable', '--yes', '--json']);
    await lab.exec('node1', ['supervisorctl', 'start', 'flanneld']);
    expect(r.json?.lease, showCli(r)).toEqual({ subnet: lease.subnet, deleted: true });
    const node1 = r.json.peers.find((p: { node: string }) => p.node === 'node1');
    expect(node1.removed.join('\n')).toContain(lease.subnet);
    expect(node1.removed.some((e: string) => e.startsWith('fdb '))).toBe(true);
    for (const peer of ['node1', 'node2', 'node3']) {
      expect((await lab.exec(peer, ['ip', 'route', 'show', lease.subnet])).stdout.trim(), peer).toBe('');
    }
    expect((await inv()).nodes.map((n) => n.name)).toEqual(['node1', 'node2', 'node3']);
    await greenAndIdempotent();
  });

  it('a reboot brings flanneld back with the same subnet and flanctl\'s rules back, without bootstrap', async () => {
    const i = await inv();
    const node2 = i.nodes.find((n) => n.name === 'node2')!;
    const lease = (await leasesOf(i)).find((l) => l.publicIp === node2.publicIp)!;
    await labReboot(lab.dir, 'node2');
    // Wait (not a timing assertion) until the node has its rules again: supervisord starts both programs.
    const rules = flanctlRules(i, lease.subnet).ensure;
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const have = await Promise.all(rules.map((r) => lab.exec('node2', iptablesCheckArgv(r))));
      if (have.every((h) => h.code === 0)) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const env = await lab.exec('node2', ['cat', i.flannel.subnetFile]);
    expect(env.stdout).toContain(`FLANNEL_SUBNET=${lease.subnet.replace(/\.0\//, '.1/')}`);
    for (const r of rules) expect((await lab.exec('node2', iptablesCheckArgv(r))).code, r.spec.join(' ')).toBe(0);
    await greenAndIdempotent();
  });
});
