/**
 * What the `verify --pods` e2e tests share (test/e2e/pods.test.ts on the lab's default release with
 * every negative case, test/e2e/pods-releases.test.ts on the other emulated releases): run it with
 * --json, assert a green run in full (N×N pod → pod, source preserved, masquerade out, cleanup), and
 * assert nothing verify created is left on any node.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { expect } from 'vitest';
import { parse, stringify } from 'yaml';
import type { TestLab } from './lab.js';
import { cli, showCli as show, type CliResult } from './cli.js';

export interface PodsJson {
  pods: {
    via: string;
    pods: Array<{ node: string; ip: string | null; removed: boolean; bridgeCreated: boolean }>;
    pairs: Array<{ from: string; to: string; ok: boolean; sourcePreserved: boolean; seenSource: string | null; error: string | null }>;
    checks: Array<{ node: string; name: string; ok: boolean; detail: string }>;
    ok: boolean;
    durationMs: number;
    phasesMs?: Record<string, number>;
  };
  ok: boolean;
}

export function podsHelpers(lab: TestLab, nodes: string[]) {
  const inv = lab.inventoryPath;
  const editInventory = (fn: (doc: Record<string, any>) => void) => {
    const doc = parse(readFileSync(inv, 'utf8')) as Record<string, any>;
    fn(doc);
    writeFileSync(inv, stringify(doc));
  };
  const sh = async (node: string, script: string) => {
    const r = await lab.exec(node, ['sh', '-c', script]);
    expect(r.code, `${node}: ${script}\n${r.stderr}`).toBe(0);
    return r.stdout;
  };
  const verifyPods = async (): Promise<{ r: CliResult; json: PodsJson }> => {
    // --probe: on host-gw no bridge holds the nodes' .1 before the pods exist (the node matrix needs one).
    const r = await cli(['verify', '-i', inv, '--pods', '--probe', '--json']);
    let json: PodsJson;
    try {
      json = JSON.parse(r.stdout) as PodsJson;
    } catch {
      throw new Error(`verify --pods printed no JSON\n${show(r)}`);
    }
    return { r, json };
  };
  /** Nothing of verify --pods is left: no netns, no veth, no FLANCTL-PODS chain, no bridge it made. */
  const expectNothingLeft = async (bridge = 'docker0') => {
    for (const n of nodes) {
      const out = await sh(n, `ip netns list; ip -br link; iptables -w -S | grep -c FLANCTL-PODS || true`);
      expect(out, n).not.toMatch(/flanctl-pod/);
      expect(out, n).not.toMatch(new RegExp(`^${bridge}\\b`, 'm'));
      expect(out.trim().split('\n').pop(), n).toBe('0');
    }
  };
  /** A green run: every pair ok with the sender's own pod address seen, masqueraded out from the node's address. */
  const expectGreen = async (label: string) => {
    const t0 = performance.now();
    const { r, json } = await verifyPods();
    console.log(`verify --pods (${label}) on ${nodes.length} lab nodes, CLI wall time: ${Math.round(performance.now() - t0)} ms; pods phase ${json.pods.durationMs} ms`);
    expect(r.code, show(r)).toBe(0);
    expect(json.pods.pairs).toHaveLength(nodes.length * (nodes.length - 1));
    expect(json.pods.pairs.every((p) => p.ok && p.sourcePreserved)).toBe(true);
    const podIp = new Map(json.pods.pods.map((p) => [p.node, p.ip]));
    expect(json.pods.pairs.every((p) => p.seenSource === podIp.get(p.from))).toBe(true);
    const masq = json.pods.checks.filter((c) => c.name === 'pod masquerade out');
    expect(masq).toHaveLength(nodes.length);
    // Arrived from the sending node's own public address.
    const pub = new Map(lab.nodes.map((n) => [n.name, n.ip]));
    expect(masq.every((c) => c.ok && c.detail.includes(`arrived from ${pub.get(c.node)} (masqueraded)`)), JSON.stringify(masq)).toBe(true);
    for (const name of ['host → pod', 'pod → node']) expect(json.pods.checks.filter((c) => c.name === name && c.ok), name).toHaveLength(nodes.length);
    expect(json.pods.pods.every((p) => p.removed)).toBe(true);
    await expectNothingLeft();
    return json;
  };
  return { inv, editInventory, sh, verifyPods, expectNothingLeft, expectGreen };
}
