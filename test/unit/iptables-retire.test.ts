/**
 * masquerade: tightened → flannel in place: flanctl's own rules, the systemd guard and the rule
 * script from the earlier run are removed (and re-read), nothing foreign is touched.
 */
import { describe, expect, it } from 'vitest';
import { iptablesRetireSteps } from '../../src/steps/iptables-retire.js';
import { remotePaths, SYSTEMD_GUARD_UNITS } from '../../src/model/templates.js';
import { applySteps, ctxFor, inventoryYaml, simCluster, testInventory } from './bootstrap-fakes.js';

const ENV = 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.7.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n';
const OWN_MASQ = 'nat POSTROUTING -s 10.244.7.0/24 ! -d 10.244.0.0/16 ! -o docker0 -m comment --comment flanctl -j MASQUERADE';
const OWN_FWD = ['filter FORWARD -s 10.244.0.0/16 -m comment --comment flanctl -j ACCEPT', 'filter FORWARD -d 10.244.0.0/16 -m comment --comment flanctl -j ACCEPT'];
const FLANNELD_MASQ = 'nat FLANNEL-POSTRTG -s 10.244.0.0/16 -d 10.244.0.0/16 -j RETURN';
const DOCKER_MASQ = 'nat POSTROUTING -s 10.244.7.0/24 ! -o docker0 -j MASQUERADE';

async function setup(service: 'supervisord' | 'systemd') {
  const inv = await testInventory(inventoryYaml({ masquerade: 'flannel', service }));
  const sim = simCluster(inv);
  const n = sim.node('node1');
  n.conn.files.set(inv.flannel.subnetFile, { content: Buffer.from(ENV), mode: 0o644 });
  for (const r of [OWN_MASQ, ...OWN_FWD, FLANNELD_MASQ, DOCKER_MASQ]) n.iptables.add(r);
  const p = remotePaths(inv);
  n.conn.files.set(p.iptablesScript, { content: Buffer.from('#!/bin/sh\n'), mode: 0o755 });
  n.conn.files.set(p.iptablesState, { content: Buffer.from('10.244.7.0/24\n'), mode: 0o644 });
  n.conn.on(['rm', '-f'], (argv) => {
    for (const f of argv.slice(3)) n.conn.files.delete(f);
    return {};
  });
  const { beforeService, afterService } = iptablesRetireSteps(inv);
  return { inv, n, p, steps: [...beforeService, ...afterService], ctx: ctxFor(sim, 'node1') };
}

describe('iptables retired when flanctl no longer manages rules', () => {
  it("supervisord: removes exactly flanctl's own rules (not flanneld's, not Docker's), the script and its state; a rerun changes nothing", async () => {
    const { n, p, steps, ctx } = await setup('supervisord');
    expect(steps.map((s) => s.id)).toEqual(['iptables:retire-rules', 'iptables:retire-script']);
    const changed = await applySteps(steps, ctx);
    expect(changed.map((c) => c.summary)).toEqual([
      'remove 3 flanctl iptables rules (iptables.masquerade: flannel)',
      `remove ${p.iptablesScript}, ${p.iptablesState}`,
    ]);
    expect([...n.iptables].sort()).toEqual([DOCKER_MASQ, FLANNELD_MASQ].sort());
    expect(n.conn.files.has(p.iptablesScript)).toBe(false);
    for (const s of steps) expect(await s.check(ctx)).toBeUndefined();
  });

  it('fails naming the rule when a delete does not take', async () => {
    const { n, steps, ctx } = await setup('supervisord');
    n.conn.on(['iptables', '-w', '5', '-t', 'filter', '-D'], { code: 0 }); // claims success, deletes nothing
    const c = await steps[0].check(ctx);
    await expect(c!.apply()).rejects.toThrow(/still present after deleting: -t filter FORWARD -s 10.244.0.0\/16/);
  });

  it('systemd: the guard units are stopped, disabled and removed before flanneld restarts; re-read afterwards', async () => {
    const { n, steps, ctx } = await setup('systemd');
    n.conn.files.set(SYSTEMD_GUARD_UNITS.service, { content: Buffer.from('[Unit]\n'), mode: 0o644 });
    n.conn.files.set(SYSTEMD_GUARD_UNITS.timer, { content: Buffer.from('[Unit]\n'), mode: 0o644 });
    n.conn.on(['systemctl', 'is-active', 'flanctl-iptables.service'], { code: 3, stdout: 'inactive\nactive\n' }, 1);
    n.conn.on(['systemctl', 'disable'], {});
    n.conn.on(['systemctl', 'reset-failed'], {});
    expect(steps[0].id).toBe('iptables:retire-guard');
    const c = await steps[0].check(ctx);
    expect(c?.summary).toBe(`stop flanctl-iptables.timer, disable and remove ${SYSTEMD_GUARD_UNITS.service}, ${SYSTEMD_GUARD_UNITS.timer}`);
    await c!.apply();
    const calls = n.conn.execs().map((a) => a.slice(0, 3).join(' '));
    expect(calls).toContain('systemctl disable --now');
    expect(calls.indexOf('systemctl daemon-reload')).toBeGreaterThan(calls.indexOf('systemctl disable --now'));
    expect(await steps[0].check(ctx)).toBeUndefined();
  });
});
