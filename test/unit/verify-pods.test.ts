/**
 * verify --pods, the pure parts: counters from `iptables -S -v`, which rules moved, CNI results and
 * conflists, and the judgement (source preserved / SNAT culprit / FORWARD culprit).
 */
import { describe, expect, it } from 'vitest';
import { countsByTag, movedRules, parseCounted, podIpFromCniResult } from '../../src/verify/pods/judge.js';
import { assessPods, type PodNodeState } from '../../src/verify/pods/assess.js';
import { conflistPlugins, renderConflist } from '../../src/model/cni.js';
import { parseInventory } from '../../src/model/inventory.js';

const NAT_BEFORE = `# Warning: iptables-legacy tables present, use iptables-legacy to see them
-P POSTROUTING ACCEPT -c 0 0
-A POSTROUTING -s 10.244.1.0/24 ! -o docker0 -c 0 0 -j MASQUERADE
-A POSTROUTING -s 10.244.1.0/24 ! -d 10.244.0.0/16 ! -o docker0 -m comment --comment flanctl -c 3 180 -j MASQUERADE`;
const NAT_AFTER = NAT_BEFORE.replace('! -o docker0 -c 0 0', '! -o docker0 -c 2 168').replace('-c 3 180', '-c 4 264');

describe('counters', () => {
  it('parses rules and policies with their packet counts, skipping warnings', () => {
    const r = parseCounted(NAT_BEFORE, 'nat');
    expect(r).toHaveLength(3);
    expect(r[0]).toMatchObject({ chain: 'POSTROUTING', target: 'ACCEPT', packets: 0, rule: '-P POSTROUTING ACCEPT' });
    expect(r[2]).toMatchObject({ comment: 'flanctl', target: 'MASQUERADE', packets: 3 });
  });
  it('finds the rules whose counters moved, by target', () => {
    const moved = movedRules(parseCounted(NAT_BEFORE, 'nat'), parseCounted(NAT_AFTER, 'nat'), ['MASQUERADE']);
    expect(moved.map((m) => m.rule)).toEqual(['-A POSTROUTING -s 10.244.1.0/24 ! -o docker0 -j MASQUERADE', expect.stringContaining('! -d 10.244.0.0/16')]);
  });
  it('counts by comment tag', () => {
    const text = '-N FLANCTL-POD\n-A FLANCTL-POD -s 10.244.2.9/32 -p icmp -m icmp --icmp-type 8 -m comment --comment pod.node2 -c 1 84 -j RETURN\n-A FLANCTL-POD -p icmp -m icmp --icmp-type 8 -m comment --comment other -c 0 0';
    expect([...countsByTag(parseCounted(text))]).toEqual([['pod.node2', 1], ['other', 0]]);
  });
  it('reads the pod address from a CNI result', () => {
    expect(podIpFromCniResult('{"cniVersion":"0.3.1","ips":[{"version":"4","address":"10.244.3.2/24","gateway":"10.244.3.1"}]}')).toBe('10.244.3.2');
    expect(podIpFromCniResult('garbage')).toBeUndefined();
  });
});

describe('conflist', () => {
  const inv = async (masq: string) =>
    (await parseInventory(`network:\n  cidr: 10.244.0.0/16\netcd:\n  endpoints: [https://10.77.0.1:2379]\nflannel:\n  tarball: f.tgz\niptables:\n  masquerade: ${masq}\ncni:\n  enabled: true\n  pluginsTarball: cni.tgz\nnodes:\n  - { name: node1, host: 10.77.0.11 }\n`, '/x/inventory.yaml')).inventory;
  it("is kube-flannel's; the delegate gets ipMasq false only when flanctl does the masquerade", async () => {
    const flannel = JSON.parse(renderConflist(await inv('flannel'))) as { plugins: Array<{ delegate?: Record<string, unknown> }> };
    expect(flannel.plugins[0].delegate).toEqual({ hairpinMode: true, isDefaultGateway: true });
    const tight = JSON.parse(renderConflist(await inv('tightened'))) as { plugins: Array<{ delegate?: Record<string, unknown> }> };
    expect(tight.plugins[0].delegate).toEqual({ hairpinMode: true, isDefaultGateway: true, ipMasq: false });
  });
  it('becomes the plugin chain a runtime runs (name and cniVersion from the list)', async () => {
    const chain = conflistPlugins(renderConflist(await inv('tightened')));
    expect(chain.map((c) => c.type)).toEqual(['flannel', 'portmap']);
    expect(JSON.parse(chain[1].conf)).toEqual({ cniVersion: '0.3.1', name: 'cbr0', type: 'portmap', capabilities: { portMappings: true } });
    expect(() => conflistPlugins('{"name":"x"}')).toThrow(/no plugins/);
  });
  it('cni.enabled without cni.pluginsTarball is an inventory error naming the key', async () => {
    await expect(parseInventory('network:\n  cidr: 10.244.0.0/16\netcd:\n  endpoints: [https://10.77.0.1:2379]\nflannel:\n  tarball: f.tgz\ncni:\n  enabled: true\nnodes:\n  - { name: node1, host: 10.77.0.11 }\n', '/x/i.yaml')).rejects.toThrow(/cni\.pluginsTarball|pluginsTarball/);
  });
});

function state(name: string, ip: string, sub: string, over: Partial<PodNodeState> = {}): PodNodeState {
  return {
    name, publicIp: `10.77.0.${name.slice(-1)}`, pod: { node: name, ip, via: 'runtime', bridge: 'docker0', bridgeCreated: true, removed: true },
    podTags: new Map(), podCounts: new Map(), hostCounts: new Map(), snap: { before: [], mid: [], after: [] },
    fromPod: [], leftovers: [], deviceIp: `${sub}.0`, ...over,
  };
}
const opts = { network: '10.244.0.0/16', masquerade: 'tightened' as const, forwardAccept: true };

describe('judgement', () => {
  it("source preserved when the receiving pod counted the sender's pod address; SNAT named otherwise", () => {
    const a = state('node1', '10.244.1.254', '10.244.1', {
      fromPod: [{ target: '10.244.2.254', ok: true }],
      snap: { before: parseCounted(NAT_BEFORE, 'nat'), mid: parseCounted(NAT_AFTER, 'nat'), after: parseCounted(NAT_AFTER, 'nat') },
      masqTarget: 'node2',
    });
    const b = state('node2', '10.244.2.254', '10.244.2', {
      fromPod: [{ target: '10.244.1.254', ok: true }],
      podTags: new Map([['pod.node1', '10.244.1.254'], ['dev.node1', '10.244.1.0']]),
      podCounts: new Map([['pod.node1', 0], ['dev.node1', 1]]),
      hostCounts: new Map([['out-pub.node1', 1]]),
    });
    a.podTags = new Map([['pod.node2', '10.244.2.254']]);
    a.podCounts = new Map([['pod.node2', 1]]);
    const r = assessPods([a, b], opts, 'runtime', 5);
    const ab = r.pairs.find((p) => p.from === 'node1')!;
    expect(ab).toMatchObject({ ok: false, sourcePreserved: false, seenSource: '10.244.1.0' });
    expect(ab.error).toContain("as 10.244.1.0 (node1's flannel device address)");
    expect(ab.error).toContain('SNAT by node1: -t nat -A POSTROUTING -s 10.244.1.0/24 ! -o docker0 -j MASQUERADE');
    expect(ab.error).not.toContain('! -d 10.244.0.0/16'); // the tightened rule cannot match pod → pod
    expect(r.pairs.find((p) => p.from === 'node2')).toMatchObject({ ok: true, sourcePreserved: true, seenSource: '10.244.2.254' });
    expect(r.checks.find((c) => c.node === 'node1' && c.name === 'pod masquerade out')).toMatchObject({ ok: false }); // no reply recorded
    expect(r.ok).toBe(false);
  });
  it('a failed pod → pod ping with FORWARD policy DROP counters moving names FORWARD', () => {
    const fw = (n: number) => parseCounted(`-P FORWARD DROP -c ${n} 0`, 'filter');
    const a = state('node1', '10.244.1.254', '10.244.1', { fromPod: [{ target: '10.244.2.254', ok: false, error: 'no reply within 1 s' }], snap: { before: fw(0), mid: fw(2), after: fw(2) } });
    const b = state('node2', '10.244.2.254', '10.244.2', { podTags: new Map([['pod.node1', '10.244.1.254']]) });
    const r = assessPods([a, b], { ...opts, forwardAccept: false }, 'runtime', 5);
    expect(r.pairs[0].error).toBe('dropped in FORWARD — node1: FORWARD policy DROP (-P FORWARD DROP); iptables.forwardAccept is false, so nothing accepts pod traffic in FORWARD');
  });
});
