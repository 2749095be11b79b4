/**
 * bootstrap / plan end to end on namespace labs with the flanneld stand-in, through the real CLI
 * (`node bin/run.js …`, after `npm run build`). Root; must run under CI=true.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadInventory, type Inventory } from '../../src/model/inventory.js';
import { flanctlRules, iptablesCheckArgv } from '../../src/steps/iptables.js';
import { leasesOf, startLab, type TestLab } from '../helpers/lab.js';
import { describeRoot } from '../helpers/root.js';
import { cli, showCli } from '../helpers/cli.js';

const root = resolve(import.meta.dirname, '../..');
const V011 = join(root, 'lab', 'dist', 'flannel-v0.11.0-standin-linux-amd64.tar.gz');


function requireBuild(): void {
  for (const f of ['dist/commands/bootstrap.js', 'lab/dist/flannel-v0.20.2-standin-linux-amd64.tar.gz', 'lab/dist/flannel-v0.11.0-standin-linux-amd64.tar.gz']) {
    if (!existsSync(join(root, f))) throw new Error(`${f} is missing: run \`npm run build\` first`);
  }
}

function editInventory(file: string, edit: (doc: ReturnType<typeof parseDocument>) => void, to = file): string {
  const doc = parseDocument(readFileSync(file, 'utf8'));
  edit(doc);
  writeFileSync(to, doc.toString());
  return to;
}

/** pid of each node's flanneld under supervisord. */
async function flanneldPids(lab: TestLab): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const n of lab.nodes) {
    const r = await lab.exec(n.name, ['supervisorctl', 'status', 'flanneld']);
    out[n.name] = /RUNNING\s+pid (\d+)/.exec(r.stdout)?.[1] ?? `not running: ${r.stdout.trim()}`;
  }
  return out;
}

async function expectConverged(lab: TestLab, inv: Inventory): Promise<void> {
  const leases = await leasesOf(inv);
  for (const n of lab.nodes) {
    const lease = leases.find((l) => l.publicIp === n.ip);
    expect(lease, `${n.name} holds a lease`).toBeDefined();
    const env = await lab.exec(n.name, ['cat', inv.flannel.subnetFile]);
    expect(env.stdout).toContain(`FLANNEL_SUBNET=${lease!.subnet.replace(/\.0\//, '.1/')}`);
    expect((await lab.exec(n.name, ['supervisorctl', 'status', 'flanneld'])).stdout).toMatch(/RUNNING/);
    const rules = flanctlRules(inv, lease!.subnet);
    for (const r of rules.ensure) expect((await lab.exec(n.name, iptablesCheckArgv(r))).code, `${n.name}: ${r.spec.join(' ')}`).toBe(0);
    for (const r of rules.absent) expect((await lab.exec(n.name, iptablesCheckArgv(r))).code).not.toBe(0);
    expect((await lab.exec(n.name, ['sysctl', '-n', 'net.ipv4.ip_forward'])).stdout.trim()).toBe('1');
  }
  // Every node pings every other node's flannel.1 address (the peer lease's .0).
  for (const from of lab.nodes) {
    for (const to of lab.nodes) {
      if (from === to) continue;
      const target = leases.find((l) => l.publicIp === to.ip)!.subnet.split('/')[0];
      const r = await lab.exec(from.name, ['ping', '-c', '1', '-W', '2', target]);
      expect(r.code, `${from.name} → ${to.name} (${target}): ${r.stdout}${r.stderr}`).toBe(0);
    }
  }
}

describeRoot('bootstrap on a 3-node lab (stand-in v0.20.2, etcd v3, supervisord)', () => {
  let lab: TestLab;
  let inventory: string;

  beforeAll(async () => {
    requireBuild();
    lab = await startLab({ nodes: 3 });
    inventory = lab.inventoryPath;
  });
  afterAll(async () => {
    await lab?.down();
  });

  it('bootstraps from nothing: leases, subnet.env, flanneld running, tightened rules, pings, verify ok; file checks all come from fact batches (issue 15)', async () => {
    const statsFile = join(lab.dir, 'exec-stats-first.jsonl');
    process.env.FLANCTL_EXEC_STATS = statsFile;
    let r;
    try {
      r = await cli(['bootstrap', '-i', inventory, '--json']);
    } finally {
      delete process.env.FLANCTL_EXEC_STATS;
    }
    expect(r.code, r.stderr + r.stdout.slice(0, 2000)).toBe(0);
    expect(r.json.summary.failed).toBe(0);
    expect(r.json.summary.changed).toBeGreaterThan(30);
    expect(r.json.verify.ok).toBe(true);
    await expectConverged(lab, await loadInventory(inventory));
    // A file write drops only what names that file (Change.affects): no file's check went to the wire on its own.
    const stats = readFileSync(statsFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { node: string; wire: string[]; writes: number });
    for (const s of stats) {
      expect(s.wire.filter((w) => w.includes('flanctl-stat')), `${s.node}: ${s.wire.join(' | ')}`).toEqual([]);
      expect(s.writes).toBeGreaterThanOrEqual(8);
      expect(new Set(s.wire.filter((w) => w.startsWith('write '))).size, 'each file written once').toBe(s.wire.filter((w) => w.startsWith('write ')).length);
    }
  });

  it('the CA key is on no node', async () => {
    const caKey = readFileSync(join(lab.dir, 'pki', 'ca-key.pem'), 'utf8');
    const needle = caKey.split('\n')[1]; // a line of the key's base64 body
    expect(needle.length).toBeGreaterThan(40);
    for (const n of lab.nodes) {
      const named = await lab.exec(n.name, ['find', '/etc', '/opt', '/root', '/run', '/tmp', '/var/log', '-name', 'ca-key.pem']);
      expect(named.stdout.trim()).toBe('');
      const grep = await lab.exec(n.name, ['grep', '-rlF', '--', needle, '/etc/flannel', '/opt', '/root', '/run', '/tmp']);
      expect(grep.stdout.trim()).toBe('');
      expect((await lab.exec(n.name, ['stat', '-c', '%a', '/etc/flannel/flanneld-key.pem'])).stdout.trim()).toBe('600');
    }
  });

  it('a second bootstrap reports 0 changes and restarts nothing, in ≤ 3 round trips per node (issue 15: one fact batch + the peer look)', async () => {
    const before = await flanneldPids(lab);
    const statsFile = join(lab.dir, 'exec-stats.jsonl');
    process.env.FLANCTL_EXEC_STATS = statsFile;
    let r;
    try {
      r = await cli(['bootstrap', '-i', inventory, '--json', '--no-verify']);
    } finally {
      delete process.env.FLANCTL_EXEC_STATS;
    }
    expect(r.code, showCli(r)).toBe(0);
    expect(r.json.summary).toMatchObject({ changed: 0, restarts: 0, failed: 0 });
    expect(await flanneldPids(lab)).toEqual(before);
    // Counted by the connector (FLANCTL_EXEC_STATS), not timed: every exec, read and write that went to the node.
    const stats = readFileSync(statsFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { node: string; execs: number; reads: number; writes: number; batches: number; served: number; wire: string[] });
    expect(stats.map((s) => s.node).sort()).toEqual(lab.nodes.map((n) => n.name).sort());
    for (const s of stats) {
      expect(s.execs + s.reads + s.writes, `${s.node} went to the wire for: ${s.wire.join(' | ')}`).toBeLessThanOrEqual(3);
      expect(s.served, `${s.node}: checks answered from the batch`).toBeGreaterThan(10);
    }
  });

  it('plan then says no changes (exit 0, also with --detailed-exitcode)', async () => {
    const r = await cli(['plan', '-i', inventory, '--detailed-exitcode']);
    expect(r.code, showCli(r)).toBe(0);
    expect(r.stdout.trim()).toBe('No changes. The cluster matches the inventory.');
  });

  it('after editing healthzPort: plan shows exactly the program change and one restart per node; bootstrap applies it', async () => {
    editInventory(inventory, (doc) => doc.setIn(['flannel', 'healthzPort'], 2402));
    const before = await flanneldPids(lab);
    const plan = await cli(['plan', '-i', inventory, '--json']);
    expect(plan.code, showCli(plan)).toBe(0);
    for (const t of plan.json.targets) {
      const changes = t.steps.filter((s: { status: string }) => s.status === 'planned');
      if (t.name === 'etcd') {
        expect(changes).toEqual([]);
        continue;
      }
      expect(changes.map((s: { id: string; change: { action: string } }) => `${s.id}:${s.change.action}`)).toEqual(['service:definition:update', 'service:flanneld:restart']);
      const def = changes[0].change;
      expect(def.diff.before).toContain('-healthz-port=2401');
      expect(def.diff.after).toContain('-healthz-port=2402');
    }
    const human = await cli(['plan', '-i', inventory, '--detailed-exitcode']);
    expect(human.code).toBe(3);
    expect(human.stdout).toContain('Plan: 0 to create, 3 to change, 3 to restart on 3 nodes.');
    expect(await flanneldPids(lab)).toEqual(before); // plan changed nothing

    const apply = await cli(['bootstrap', '-i', inventory, '--json']);
    expect(apply.code, showCli(apply)).toBe(0);
    expect(apply.json.summary).toMatchObject({ changed: 6, restarts: 3, failed: 0 });
    expect(apply.json.verify.ok).toBe(true);
    const after = await flanneldPids(lab);
    for (const n of lab.nodes) {
      expect(after[n.name]).not.toBe(before[n.name]);
      expect((await lab.exec(n.name, ['grep', '-c', 'healthz-port=2402', '/etc/supervisor/conf.d/flanneld.conf'])).stdout.trim()).toBe('1');
    }
    expect((await cli(['plan', '-i', inventory, '--detailed-exitcode'])).code).toBe(0);
  });

  it('refuses a node whose known_hosts key is wrong, before anything changes anywhere', async () => {
    const inv = await loadInventory(inventory);
    const known = readFileSync(inv.ssh.knownHostsFile, 'utf8').split('\n');
    const node1Key = known.find((l) => l.startsWith(`${lab.nodes[0].ip} `))!.split(' ').slice(1).join(' ');
    const bad = known.map((l) => (l.startsWith(`${lab.nodes[1].ip} `) ? `${lab.nodes[1].ip} ${node1Key}` : l)).join('\n');
    const badKnownHosts = join(lab.dir, 'known_hosts.wrong');
    writeFileSync(badKnownHosts, bad);
    const badInv = editInventory(
      inventory,
      (doc) => {
        doc.setIn(['ssh', 'knownHostsFile'], badKnownHosts);
        doc.setIn(['flannel', 'healthzPort'], 2403); // there would be changes on every node
      },
      join(lab.dir, 'inventory-wrong-key.yaml'),
    );
    const before = await flanneldPids(lab);
    const confBefore = (await lab.exec('node1', ['cat', '/etc/supervisor/conf.d/flanneld.conf'])).stdout;
    const r = await cli(['bootstrap', '-i', badInv, '--json']);
    expect(r.code).toBe(1);
    expect(r.json.error.message).toMatch(/preflight found 1 problem; nothing was changed/);
    expect(r.json.error.message).toMatch(/node2:[\s\S]*host key/i);
    expect(await flanneldPids(lab)).toEqual(before);
    expect((await lab.exec('node1', ['cat', '/etc/supervisor/conf.d/flanneld.conf'])).stdout).toBe(confBefore);
  });

  it("masquerade tightened → flannel in place: flanneld masquerades itself, flanctl's own rules, watcher and script are gone, verify green, a rerun changes nothing", async () => {
    const own = async (node: string) => {
      const lines: string[] = [];
      for (const t of ['nat', 'filter']) lines.push(...(await lab.exec(node, ['iptables', '-t', t, '-S'])).stdout.split('\n').filter((l) => l.includes('--comment flanctl')));
      return lines;
    };
    expect((await own('node1')).length, 'tightened: flanctl rules before').toBeGreaterThan(0);
    editInventory(inventory, (doc) => doc.setIn(['iptables', 'masquerade'], 'flannel'));
    const apply = await cli(['bootstrap', '-i', inventory, '--json']);
    expect(apply.code, showCli(apply)).toBe(0);
    expect(apply.json.verify.ok, showCli(apply)).toBe(true);
    const ids = apply.json.targets.find((t: { name: string }) => t.name === 'node1').steps.filter((s: { status: string }) => s.status === 'changed').map((s: { id: string }) => s.id);
    expect(ids).toEqual(expect.arrayContaining(['service:definition', 'service:flanneld', 'iptables:retire-rules', 'iptables:retire-script']));
    const inv = await loadInventory(inventory);
    for (const n of lab.nodes) {
      expect(await own(n.name), `${n.name}: no rule with flanctl's comment`).toEqual([]);
      expect((await lab.exec(n.name, ['iptables', '-t', 'nat', '-S'])).stdout, `${n.name}: flanneld's own masquerade (-ip-masq)`).toMatch(/MASQUERADE/);
      expect((await lab.exec(n.name, ['supervisorctl', 'status', 'flanctl-iptables'])).stdout).toMatch(/no such process/);
      expect((await lab.exec(n.name, ['test', '-e', '/opt/flannel/bin/flanctl-iptables.sh'])).code).not.toBe(0);
      expect((await lab.exec(n.name, ['grep', '-c', 'ip-masq', '/etc/supervisor/conf.d/flanneld.conf'])).stdout.trim()).toBe('1');
    }
    const again = await cli(['bootstrap', '-i', inventory, '--json', '--no-verify']);
    expect(again.json.summary, showCli(again)).toMatchObject({ changed: 0, restarts: 0, failed: 0 });
    expect(inv.iptables.masquerade).toBe('flannel');
  });
});

describeRoot('bootstrap on a 3-node lab with etcd v2 and the v0.11.0 stand-in', () => {
  let lab: TestLab;
  let inventory: string;

  beforeAll(async () => {
    requireBuild();
    lab = await startLab({ nodes: 3, tarball: V011 });
    inventory = editInventory(lab.inventoryPath, (doc) => doc.setIn(['etcd', 'api'], 'v2'));
  });
  afterAll(async () => {
    await lab?.down();
  });

  it('bootstraps over the v2 API, then a rerun changes nothing', async () => {
    const r = await cli(['bootstrap', '-i', inventory, '--json']);
    expect(r.code, r.stderr + r.stdout.slice(0, 2000)).toBe(0);
    expect(r.json.verify.ok).toBe(true);
    const inv = await loadInventory(inventory);
    expect(inv.etcd.api).toBe('v2');
    await expectConverged(lab, inv);
    const leases = await leasesOf(inv);
    expect(leases.every((l) => l.backendData?.VNI === undefined)).toBe(true); // v0.11.0 leases carry no VNI
    const again = await cli(['bootstrap', '-i', inventory, '--json', '--no-verify']);
    expect(again.json.summary).toMatchObject({ changed: 0, restarts: 0, failed: 0 });
  });
});
