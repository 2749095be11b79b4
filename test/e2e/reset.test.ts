/**
 * reset end to end on a 3-node lab (root; must run under CI=true), with the built CLI: after a
 * bootstrap and a switch to host-gw, `reset --yes` leaves no flanctl file, service, process, device,
 * route inside the Network or iptables rule on any node (checked on each node) and no key in etcd;
 * a second reset changes nothing; rules flanctl did not add survive; a new bootstrap succeeds.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadInventory } from '../../src/model/inventory.js';
import { openKv } from '../../src/kv/index.js';
import { startLab, type TestLab } from '../helpers/lab.js';
import { describeRoot } from '../helpers/root.js';
import { cli, repoRoot, showCli } from '../helpers/cli.js';

const repo = repoRoot;

const show = showCli;

/** Paths bootstrap writes (inventory defaults, supervisord) — none may remain after reset. */
const FLANCTL_PATHS = [
  '/opt/flannel', '/etc/flannel', '/run/flannel', '/var/log/flanneld',
  '/etc/supervisor/conf.d/flanneld.conf', '/etc/sysctl.d/90-flanctl.conf', '/etc/systemd/system/flanneld.service',
];
const FOREIGN_RULE = ['-s', '192.0.2.0/24', '-m', 'comment', '--comment', 'operator rule', '-j', 'ACCEPT'];

describeRoot('flanctl reset on a 3-node lab', () => {
  let lab: TestLab;
  let inv: string;

  const etcdKeys = async () => {
    const kv = await openKv(await loadInventory(inv));
    try {
      return (await kv.list('/coreos.com/network/')).map((e) => e.key);
    } finally {
      await kv.close();
    }
  };

  beforeAll(async () => {
    if (!existsSync(join(repo, 'dist/commands/reset.js'))) throw new Error('dist/ is missing: run `npm run build` before the system tests');
    lab = await startLab({ nodes: 3 });
    inv = lab.inventoryPath;
    const boot = await cli(['bootstrap', '-i', inv, '--trust-new-hosts']);
    expect(boot.code, show(boot)).toBe(0);
    const sw = await cli(['switch-backend', 'host-gw', '-i', inv, '--yes']);
    expect(sw.code, show(sw)).toBe(0);
    for (const n of lab.nodes) {
      // A stale vxlan device from "an earlier experiment" and a rule flanctl did not add.
      expect((await lab.exec(n.name, ['ip', 'link', 'add', 'flannel.7', 'type', 'vxlan', 'id', '7', 'dstport', '4789', 'dev', 'eth0'])).code).toBe(0);
      expect((await lab.exec(n.name, ['iptables', '-A', 'FORWARD', ...FOREIGN_RULE])).code).toBe(0);
    }
  }, 360_000);

  afterAll(async () => {
    await lab?.down();
  }, 120_000);

  it('--dry-run plans the removal and changes nothing', async () => {
    const r = await cli(['reset', '-i', inv, '--dry-run', '--json']);
    expect(r.code, show(r)).toBe(0);
    const plan = JSON.parse(r.stdout) as { mode: string; summary: { changed: number } };
    expect(plan.mode).toBe('check');
    expect(plan.summary.changed).toBe(13); // 4 steps on 3 nodes + etcd
    expect((await lab.exec('node1', ['supervisorctl', 'status', 'flanneld'])).stdout).toMatch(/RUNNING/);
    expect(await etcdKeys()).toHaveLength(4);
  });

  it('reset --yes leaves nothing of flanctl on any node and nothing in etcd', async () => {
    const r = await cli(['reset', '-i', inv, '--yes']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toMatch(/reset: 3 hosts \+ etcd, 13 changes, 0 failed/);

    for (const n of lab.nodes) {
      const left = await lab.exec(n.name, ['ls', '-d', '--', ...FLANCTL_PATHS]);
      expect(left.stdout.trim(), `${n.name}: files left`).toBe('');
      const sup = await lab.exec(n.name, ['supervisorctl', 'status']);
      expect(sup.stdout, `${n.name}: supervisord programs`).not.toMatch(/flanneld|flanctl/);
      const ps = await lab.exec(n.name, ['ps', '-eo', 'args']);
      expect(ps.stdout.split('\n').filter((l) => /flanneld|flanctl-iptables/.test(l)), `${n.name}: processes`).toEqual([]);
      const links = await lab.exec(n.name, ['ip', '-br', 'link']);
      expect(links.stdout, `${n.name}: devices`).not.toMatch(/flannel|flanctl/);
      const routes = JSON.parse((await lab.exec(n.name, ['ip', '-4', '-j', 'route', 'show', 'table', 'main'])).stdout) as Array<{ dst: string }>;
      expect(routes.filter((x) => x.dst.startsWith('10.244.')), `${n.name}: routes in the Network`).toEqual([]);
      for (const table of ['nat', 'filter']) {
        const rules = (await lab.exec(n.name, ['iptables', '-t', table, '-S'])).stdout;
        expect(rules, `${n.name}: ${table} rules`).not.toMatch(/flanctl|FLANNEL-|flanneld/);
      }
      expect((await lab.exec(n.name, ['iptables', '-C', 'FORWARD', ...FOREIGN_RULE])).code, `${n.name}: operator rule kept`).toBe(0);
    }
    expect(await etcdKeys()).toEqual([]);
  });

  it('a second reset changes nothing', async () => {
    const r = await cli(['reset', '-i', inv, '--yes', '--json']);
    expect(r.code, show(r)).toBe(0);
    const report = JSON.parse(r.stdout) as { summary: { changed: number; failed: number } };
    expect(report.summary).toMatchObject({ changed: 0, failed: 0 });
  });

  it('a bootstrap after the reset works (host-gw, as the inventory now says)', async () => {
    const boot = await cli(['bootstrap', '-i', inv, '--no-verify']);
    expect(boot.code, show(boot)).toBe(0);
    const v = await cli(['verify', '-i', inv, '--probe']);
    expect(v.code, show(v)).toBe(0);
    expect(v.stdout).toContain('6/6 pairs ok');
  });
});
