/**
 * switch-backend end to end on a 3-node lab (root; must run under CI=true), with the built CLI
 * (`npm run build` first): vxlan → host-gw → vxlan DirectRouting → vxlan with verify exit 0 after
 * each, no stale flannel.1 on host-gw nodes, no route inside the Network that the current backend
 * does not own, the inventory's backend rewritten with its comments intact; a switch to host-gw that
 * fails after the preflight (node3 drops pod-network packets arriving on eth0) rolls back by itself
 * (exit 1 naming the failed pairs, verify 0 on vxlan); a switch refused by the preflight (node3's
 * publicIp not its eth0 address) changes nothing. Prints each switch's downtime window.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadInventory } from '../../src/model/inventory.js';
import { openKv } from '../../src/kv/index.js';
import { configKey, type Lease } from '../../src/model/leases.js';
import { startLab, type TestLab } from '../helpers/lab.js';
import { describeRoot } from '../helpers/root.js';
import { cli, repoRoot, showCli } from '../helpers/cli.js';
import { listLeases } from '../../src/kv/flannel-keys.js';

const repo = repoRoot;
const NETWORK = '10.244.0.0/16';
const DROP = ['-i', 'eth0', '-s', NETWORK, '-j', 'DROP'];

const show = showCli;

interface SwitchJson {
  outcome: string;
  ok: boolean;
  from: string;
  to: string;
  downtimeMs?: number;
  phasesMs?: Record<string, number>;
  failure?: { phase: string; pairs: string[] };
  message: string;
}

interface Route { dst: string; gateway?: string; dev?: string; flags?: string[] }

describeRoot('flanctl switch-backend on a 3-node lab', () => {
  let lab: TestLab;
  let inv: string;
  const downtimes: string[] = [];

  const leases = async (): Promise<Lease[]> => {
    const kv = await openKv(await loadInventory(inv));
    try {
      return await listLeases(kv, '/coreos.com/network');
    } finally {
      await kv.close();
    }
  };
  const etcdConfig = async (): Promise<string | undefined> => {
    const kv = await openKv(await loadInventory(inv));
    try {
      return await kv.get(configKey('/coreos.com/network'));
    } finally {
      await kv.close();
    }
  };
  const routesInNetwork = async (node: string): Promise<Route[]> => {
    const r = await lab.exec(node, ['ip', '-4', '-j', 'route', 'show', 'table', 'main']);
    return (JSON.parse(r.stdout) as Route[]).filter((x) => x.dst.startsWith('10.244.'));
  };
  const links = async (node: string) => (await lab.exec(node, ['ip', '-br', 'link'])).stdout.split('\n').map((l) => l.split(/[\s@]/)[0]).filter(Boolean);

  /** Every node routes exactly its peers' subnets, the way `style` does it, and nothing else inside the Network. */
  async function expectRoutes(style: 'vxlan' | 'direct') {
    const all = await leases();
    const ipOf = new Map(lab.nodes.map((n) => [n.name, n.ip]));
    for (const n of lab.nodes) {
      const peers = all.filter((l) => l.publicIp !== ipOf.get(n.name));
      const want = peers.map((l) => (style === 'vxlan'
        ? `${l.subnet} via ${l.subnet.split('/')[0]} dev flannel.1`
        : `${l.subnet} via ${l.publicIp} dev eth0`)).sort();
      const have = (await routesInNetwork(n.name)).map((r) => `${r.dst} via ${r.gateway} dev ${r.dev}`).sort();
      expect(have, `routes inside ${NETWORK} on ${n.name}`).toEqual(want);
    }
  }

  async function switchTo(args: string[]): Promise<SwitchJson> {
    const r = await cli(['switch-backend', ...args, '-i', inv, '--yes', '--json']);
    expect(r.code, show(r)).toBe(0);
    const report = JSON.parse(r.stdout) as SwitchJson;
    expect(report.outcome).toBe('switched');
    downtimes.push(`${report.from} → ${report.to}: downtime ${(report.downtimeMs! / 1000).toFixed(1)} s ${JSON.stringify(report.phasesMs)}`);
    return report;
  }

  async function expectVerifyOk(probe: boolean) {
    const v = await cli(['verify', '-i', inv, ...(probe ? ['--probe'] : [])]);
    expect(v.code, show(v)).toBe(0);
    expect(v.stdout).toContain('6/6 pairs ok');
  }

  beforeAll(async () => {
    if (!existsSync(join(repo, 'dist/commands/switch-backend.js'))) throw new Error('dist/ is missing: run `npm run build` before the system tests');
    lab = await startLab({ nodes: 3 });
    inv = lab.inventoryPath;
    // Comments the operator wrote: they must survive every switch.
    const text = readFileSync(inv, 'utf8')
      .replace(/^( {2})backend:\n/m, '$1# data plane: managed by flanctl switch-backend\n$1backend:\n')
      .replace(/^(network:)$/m, '$1 # pod network of the lab');
    expect(text).toContain('# data plane');
    writeFileSync(inv, text);
    const boot = await cli(['bootstrap', '-i', inv, '--trust-new-hosts']);
    expect(boot.code, show(boot)).toBe(0);
  }, 300_000);

  afterAll(async () => {
    if (downtimes.length) console.log(`switch-backend downtime windows (3 lab nodes):\n  ${downtimes.join('\n  ')}`);
    await lab?.down();
  }, 120_000);

  const expectComments = () => {
    const text = readFileSync(inv, 'utf8');
    expect(text).toContain('# data plane: managed by flanctl switch-backend');
    expect(text).toContain('network: # pod network of the lab');
    expect(text).toMatch(/^# flanctl lab /m);
    return text;
  };

  it('vxlan → host-gw: no flannel.1 left, host-gw routes only, verify exit 0, inventory updated', async () => {
    await switchTo(['host-gw']);
    for (const n of lab.nodes) expect(await links(n.name)).not.toContain('flannel.1');
    expect((await leases()).map((l) => l.backendType)).toEqual(['host-gw', 'host-gw', 'host-gw']);
    await expectRoutes('direct');
    await expectVerifyOk(true);
    expect((await loadInventory(inv)).network.backend).toEqual({ type: 'host-gw' });
    expect(expectComments()).toMatch(/backend:\n {4}type: host-gw\n/);
  });

  it('host-gw → vxlan DirectRouting: flannel.1 back, peers routed via their public IPs', async () => {
    await switchTo(['vxlan', '--direct-routing']);
    for (const n of lab.nodes) expect(await links(n.name)).toContain('flannel.1');
    await expectRoutes('direct');
    await expectVerifyOk(false);
    expect((await loadInventory(inv)).network.backend).toMatchObject({ type: 'vxlan', directRouting: true });
    expectComments();
  });

  it('vxlan DirectRouting → vxlan: peers routed through flannel.1 again', async () => {
    await switchTo(['vxlan']);
    await expectRoutes('vxlan');
    await expectVerifyOk(false);
    expect((await loadInventory(inv)).network.backend).toMatchObject({ type: 'vxlan', directRouting: false });
    expect(expectComments()).not.toContain('directRouting');
  });

  it('a switch to host-gw that fails after the preflight rolls back to vxlan by itself', async () => {
    const before = readFileSync(inv, 'utf8');
    const add = await lab.exec('node3', ['iptables', '-I', 'INPUT', ...DROP]);
    expect(add.code, add.stderr).toBe(0);
    try {
      const r = await cli(['switch-backend', 'host-gw', '-i', inv, '--yes', '--json']);
      expect(r.code, show(r)).toBe(1);
      const report = JSON.parse(r.stdout) as SwitchJson;
      expect(report.outcome).toBe('rolled-back');
      expect(report.failure?.phase).toBe('verify');
      expect(report.failure?.pairs).toEqual(expect.arrayContaining(['node1 → node3', 'node2 → node3']));
      expect(report.message).toMatch(/back on vxlan/);
      downtimes.push(`vxlan → host-gw failed, rolled back: downtime ${(report.downtimeMs! / 1000).toFixed(1)} s`);
    } finally {
      await lab.exec('node3', ['iptables', '-D', 'INPUT', ...DROP]);
    }
    expect(readFileSync(inv, 'utf8')).toBe(before);
    expect(JSON.parse((await etcdConfig())!).Backend.Type).toBe('vxlan');
    expect((await leases()).map((l) => l.backendType)).toEqual(['vxlan', 'vxlan', 'vxlan']);
    await expectRoutes('vxlan');
    await expectVerifyOk(false);
  });

  it('a switch refused by the preflight (publicIp not the iface address) changes nothing', async () => {
    const bad = join(lab.dir, 'inventory-bad-publicip.yaml');
    const ip3 = lab.nodes.find((n) => n.name === 'node3')!.ip;
    const wrong = ip3.replace(/\.\d+$/, '.199');
    writeFileSync(bad, readFileSync(inv, 'utf8').replace(`publicIp: ${ip3}`, `publicIp: ${wrong}`));
    const pids = async () => Promise.all(lab.nodes.map(async (n) => (await lab.exec(n.name, ['supervisorctl', 'status', 'flanneld'])).stdout.match(/pid (\d+)/)?.[1]));
    const [configBefore, leasesBefore, pidsBefore] = [await etcdConfig(), (await leases()).map((l) => l.value), await pids()];
    const routesBefore = await Promise.all(lab.nodes.map((n) => routesInNetwork(n.name)));

    const r = await cli(['switch-backend', 'host-gw', '-i', bad, '--yes']);
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toContain('refused, nothing changed');
    expect(r.stderr).toContain(`node3: public IP ${wrong} is not an address of eth0`);

    expect(await etcdConfig()).toBe(configBefore);
    expect((await leases()).map((l) => l.value)).toEqual(leasesBefore);
    expect(await pids()).toEqual(pidsBefore);
    expect(pidsBefore.every(Boolean)).toBe(true);
    expect(await Promise.all(lab.nodes.map((n) => routesInNetwork(n.name)))).toEqual(routesBefore);
    await expectVerifyOk(false);
  });
});
