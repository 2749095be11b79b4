import { describe, expect, it } from 'vitest';
import { flanctlRules, iptablesRulesStep, isOwnRule, ruleText } from '../../src/steps/iptables.js';
import { ctxFor, inventoryYaml, simCluster, testInventory } from './bootstrap-fakes.js';

const ENV = 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.7.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n';

async function setup(masquerade = 'tightened', withEnv = true) {
  const inv = await testInventory(inventoryYaml({ masquerade }));
  const sim = simCluster(inv);
  const n = sim.node('node1');
  if (withEnv) n.conn.files.set(inv.flannel.subnetFile, { content: Buffer.from(ENV), mode: 0o644 });
  return { inv, sim, n, step: iptablesRulesStep(inv), ctx: ctxFor(sim, 'node1') };
}

describe('flanctlRules', () => {
  it('tightened: the narrow MASQUERADE, Docker broad rule to remove, FORWARD accepts', async () => {
    const inv = await testInventory(inventoryYaml());
    const r = flanctlRules(inv, '10.244.7.0/24');
    expect(r.ensure.map((x) => `${x.table} ${x.chain} ${x.spec.join(' ')}`)).toEqual([
      'nat POSTROUTING -s 10.244.7.0/24 ! -d 10.244.0.0/16 ! -o docker0 -m comment --comment flanctl -j MASQUERADE',
      'filter FORWARD -s 10.244.0.0/16 -m comment --comment flanctl -j ACCEPT',
      'filter FORWARD -d 10.244.0.0/16 -m comment --comment flanctl -j ACCEPT',
    ]);
    expect(r.absent.map((x) => x.spec.join(' '))).toEqual(['-s 10.244.7.0/24 ! -o docker0 -j MASQUERADE']);
  });

  it('flannel mode: flanneld owns masquerade and FORWARD, flanctl adds nothing and its own rules from before go', async () => {
    const inv = await testInventory(inventoryYaml({ masquerade: 'flannel' }));
    const { ensure, absent } = flanctlRules(inv, '10.244.7.0/24');
    expect(ensure).toEqual([]);
    expect(absent.map(ruleText)).toEqual([
      '-t nat POSTROUTING -s 10.244.7.0/24 ! -d 10.244.0.0/16 ! -o docker0 -m comment --comment flanctl -j MASQUERADE',
      '-t filter FORWARD -s 10.244.0.0/16 -m comment --comment flanctl -j ACCEPT',
      '-t filter FORWARD -d 10.244.0.0/16 -m comment --comment flanctl -j ACCEPT',
    ]);
    expect(absent.every(isOwnRule)).toBe(true); // never Docker's or flanneld's
  });
});

describe('iptablesRulesStep', () => {
  it('without subnet.env (plan on a fresh node): says the rules come once flanneld has a lease', async () => {
    const { step, ctx, n } = await setup('tightened', false);
    const c = await step.check(ctx);
    expect(c?.action).toBe('create');
    expect(c?.summary).toMatch(/will be created once flanneld has a lease/);
    expect(n.conn.execs().some((a) => a[0] === 'iptables')).toBe(false);
  });

  it('check → apply (runs the script) → check again is empty, checked with iptables -C', async () => {
    const { step, ctx, n, inv } = await setup();
    const c = await step.check(ctx);
    expect(c?.summary).toMatch(/add 3 iptables rules \(subnet 10.244.7.0\/24\)/);
    await c!.apply();
    expect(n.conn.execs().some((a) => a[0] === '/opt/flannel/bin/flanctl-iptables.sh')).toBe(true);
    expect(n.iptables.size).toBe(3);
    expect(await step.check(ctx)).toBeUndefined();
    const checks = n.conn.execs().filter((a) => a[0] === 'iptables');
    expect(checks.every((a) => a.includes('-C'))).toBe(true);
    expect(checks.some((a) => a.includes('-S'))).toBe(false);
    expect(inv.iptables.bridge).toBe('docker0');
  });

  it("removes Docker's broad MASQUERADE rule when present", async () => {
    const { step, ctx, n } = await setup();
    n.iptables.add('nat POSTROUTING -s 10.244.7.0/24 ! -o docker0 -j MASQUERADE');
    const c = await step.check(ctx);
    expect(c?.diff?.before).toContain('! -o docker0 -j MASQUERADE');
    await c!.apply();
    expect(n.iptables.has('nat POSTROUTING -s 10.244.7.0/24 ! -o docker0 -j MASQUERADE')).toBe(false);
    expect(await step.check(ctx)).toBeUndefined();
  });

  it('fails loudly when the script leaves a rule missing', async () => {
    const { step, ctx, n } = await setup();
    n.conn.on(['/opt/flannel/bin/flanctl-iptables.sh'], { code: 4, stderr: 'iptables: Permission denied' });
    const c = await step.check(ctx);
    await expect(c!.apply()).rejects.toThrow(/exited 4.*missing -t nat POSTROUTING/s);
  });
});
