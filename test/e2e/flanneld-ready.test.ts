/**
 * Readiness from flanneld itself (issue 15 item 2) on a 2-node lab (root; must run under CI=true;
 * `npm run build` first for the stand-in): the flanneld-ctl round trip stops flanneld and runs the
 * cleanup commands once it is down, starts / restarts it and returns only when flanneld rewrote
 * subnet.env (and /healthz answers), both through supervisord's XML-RPC socket and through the
 * supervisorctl fallback (also the bootstrap service step's update + wait); a flanneld that never becomes ready (it cannot reach etcd) fails the wait
 * after the timeout, naming what is missing, the node's lease in etcd and flanneld's last log lines.
 * The status of supervisord is read independently (supervisorctl inside the node) and compared with
 * flanctl's own read through supervisord's socket.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Connector } from '../../src/connector/connector.js';
import { localConnector } from '../../src/connector/local.js';
import { openKv } from '../../src/kv/index.js';
import type { Kv } from '../../src/kv/kv.js';
import { loadInventory, type Inventory } from '../../src/model/inventory.js';
import { subnetEnvToken } from '../../src/steps/flanneld-ctl.js';
import { restartFlanneld, startFlanneld, stopFlanneld } from '../../src/steps/service.js';
import { supervisorStatus, waitSupervisorSettled } from '../../src/steps/service-state.js';
import { cli, repoRoot, showCli } from '../helpers/cli.js';
import { leasesOf, startLab, type TestLab } from '../helpers/lab.js';
import { describeRoot } from '../helpers/root.js';

const PROGRAM = '/etc/supervisor/conf.d/flanneld.conf';

describeRoot('flanneld readiness: one round trip per stop / start / restart, no fixed waits (2-node lab)', () => {
  let lab: TestLab;
  let inv: Inventory;
  let kv: Kv;
  const conn = (node: string): Connector => localConnector({ name: node, prefix: lab.prefix(node) });
  const status = async (node: string) => (await lab.exec(node, ['supervisorctl', 'status', 'flanneld'])).stdout.trim().split(/\s+/)[1];
  const ownLease = async (node: string) => (await leasesOf(inv)).find((l) => l.publicIp === lab.nodes.find((n) => n.name === node)!.ip)!;
  const flannelSubnet = (env: string | undefined) => /FLANNEL_SUBNET=(\S+)/.exec(env ?? '')?.[1];

  beforeAll(async () => {
    if (!existsSync(join(repoRoot, 'dist/commands/bootstrap.js'))) throw new Error('dist/ is missing: run `npm run build` before the system tests');
    lab = await startLab({ nodes: 2 });
    const boot = await cli(['bootstrap', '-i', lab.inventoryPath, '--trust-new-hosts', '--no-verify']);
    expect(boot.code, showCli(boot)).toBe(0);
    inv = await loadInventory(lab.inventoryPath);
    kv = await openKv(inv);
  }, 300_000);

  afterAll(async () => {
    await kv?.close();
    await lab?.down();
  }, 120_000);

  it('stop runs the cleanup commands once flanneld is down and returns the state after them; start returns ready with a rewritten subnet.env', async () => {
    const c = conn('node1');
    expect((await lab.exec('node1', ['ip', 'link', 'add', 'flanctl-t0', 'type', 'bridge'])).code).toBe(0);
    const stopped = await stopFlanneld(inv, c, { afterStop: [['ip', 'link', 'del', 'flanctl-t0'], ['ip', 'link', 'del', 'flanctl-none0']] });
    expect(stopped.result).toBe('stopped');
    expect(stopped.via).toBe('xmlrpc');
    expect(await status('node1')).toBe('STOPPED');
    expect(stopped.actions[0]).toEqual({ code: 0, stderr: '' });
    expect(stopped.actions[1].code).not.toBe(0);
    expect(stopped.actions[1].stderr).toMatch(/Cannot find device "flanctl-none0"/);
    const links = (JSON.parse(stopped.links!) as Array<{ ifname: string }>).map((l) => l.ifname);
    expect(links).toContain('eth0');
    expect(links).not.toContain('flanctl-t0');
    expect(JSON.parse(stopped.routes!)).toEqual(expect.any(Array));

    const before = await subnetEnvToken(inv, c);
    const started = await startFlanneld(inv, c, { kv, node: inv.nodes[0] });
    expect(started.result).toBe('ready');
    expect(started.token).not.toBe(before);
    expect(started.healthz).toBe('ok');
    expect(['STARTING', 'RUNNING']).toContain(started.state);
    const lease = await ownLease('node1');
    expect(flannelSubnet(started.subnetEnv)).toBe(lease.subnet.replace(/\.0\//, '.1/'));
    // The status read through supervisord's socket says what supervisorctl says, once flanneld is
    // past its startsecs (ready comes first: the two reads could straddle STARTING → RUNNING).
    const settled = await waitSupervisorSettled(c, ['flanneld', 'flanctl-iptables']);
    expect(settled.flanneld.state).toBe('RUNNING');
    const st = await supervisorStatus(c, ['flanneld', 'flanctl-iptables', 'no-such-program']);
    expect(st.flanneld.state).toBe(await status('node1'));
    expect(st['flanctl-iptables'].state).toBe('RUNNING');
    expect(st['no-such-program'].state).toBe('MISSING');
  }, 120_000);

  it('restart through the supervisorctl fallback (supervisorctl is configured with credentials, so no XML-RPC shortcut) is ready too', async () => {
    const c = conn('node2');
    const conf = '/etc/supervisor/supervisord.conf';
    expect((await lab.exec('node2', ['sed', '-i', '/^\\[supervisorctl\\]/a username=flanctl-test', conf])).code).toBe(0);
    try {
      const before = await subnetEnvToken(inv, c);
      const r = await restartFlanneld(inv, c, { kv, node: inv.nodes[1] });
      expect(r.via).toBe('supervisorctl');
      expect(r.result).toBe('ready');
      expect(r.token).not.toBe(before);
    } finally {
      await lab.exec('node2', ['sed', '-i', '/^username=flanctl-test$/d', conf]);
    }
    expect(await status('node2')).toMatch(/^(STARTING|RUNNING)$/);
  }, 120_000);

  it('the bootstrap service step through the supervisorctl fallback: a changed program is updated (flanneld spawned once) and waited for until ready', async () => {
    const conf = '/etc/supervisor/supervisord.conf';
    const spawns = async () => ((await lab.exec('node2', ['cat', '/var/log/supervisor/supervisord.log'])).stdout.match(/spawned: 'flanneld'/g) ?? []).length;
    expect((await lab.exec('node2', ['sed', '-i', '/^\\[supervisorctl\\]/a username=flanctl-test', conf])).code).toBe(0);
    try {
      // Only flanneld's section differs from the inventory's (the watcher's stopwaitsecs is 5).
      expect((await lab.exec('node2', ['sed', '-i', 's/^stopwaitsecs=10$/stopwaitsecs=11/', PROGRAM])).code).toBe(0);
      const before = await spawns();
      const boot = await cli(['bootstrap', '-i', lab.inventoryPath, '--no-verify', '--json']);
      expect(boot.code, showCli(boot)).toBe(0);
      const step = (node: string) => (boot.json.targets as Array<{ name: string; steps: Array<{ id: string; status: string; change?: { action: string } }> }>)
        .find((t) => t.name === node)!.steps.find((x) => x.id === 'service:flanneld');
      expect(step('node2')).toMatchObject({ status: 'changed', change: { action: 'restart' } });
      expect(step('node1')?.status).toBe('unchanged');
      expect(await spawns()).toBe(before + 1);
      expect(await status('node2')).toMatch(/^(STARTING|RUNNING)$/);
      expect((await lab.exec('node2', ['supervisorctl', 'status', 'flanctl-iptables'])).stdout).toMatch(/RUNNING/);
    } finally {
      await lab.exec('node2', ['sed', '-i', '/^username=flanctl-test$/d', conf]);
    }
  }, 120_000);

  it('a flanneld that cannot reach etcd never becomes ready: the wait fails after its timeout naming subnet.env, the lease in etcd and the log', async () => {
    const c = conn('node2');
    const lease = await ownLease('node2');
    // flanneld on node2 now talks to a port where nothing listens.
    expect((await lab.exec('node2', ['sed', '-i', 's#-etcd-endpoints=[^ ]*#-etcd-endpoints=https://127.0.0.1:9#', PROGRAM])).code).toBe(0);
    expect((await lab.exec('node2', ['supervisorctl', 'update', 'flanneld'])).code).toBe(0);
    const err = await restartFlanneld(inv, c, { timeoutMs: 4000, kv, node: inv.nodes[1] }).then(() => undefined, (e: Error) => e);
    expect(err, 'restartFlanneld must fail').toBeInstanceOf(Error);
    expect(err!.message).toMatch(/^node2: flanneld not ready after 4 s: flanneld is (STARTING|RUNNING) but has not rewritten \/run\/flannel\/subnet\.env since it was \(re\)started/);
    expect(err!.message).toContain(`etcd holds lease ${lease.subnet} for ${lease.publicIp}`);
    expect(err!.message).toMatch(/last log lines:\n[\s\S]*127\.0\.0\.1:9/);
    // bootstrap puts the right endpoint back and flanneld becomes ready again.
    const boot = await cli(['bootstrap', '-i', lab.inventoryPath, '--no-verify']);
    expect(boot.code, showCli(boot)).toBe(0);
    expect(await status('node2')).toMatch(/^(STARTING|RUNNING)$/);
    expect((await ownLease('node2')).subnet).toBe(lease.subnet);
  }, 180_000);
});
