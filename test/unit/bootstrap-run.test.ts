/**
 * runBootstrap end to end on the simulated cluster (fakes only): preflight → etcd config → node
 * steps → peer routes; idempotent rerun; plan output; an inventory edit; partial failure.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBootstrap, type BootstrapOptions } from '../../src/bootstrap/bootstrap.js';
import { failureLines, renderPlan } from '../../src/engine/plan-output.js';
import { ensureFlanneldCert } from '../../src/pki/index.js';
import { flanctlRules } from '../../src/steps/iptables.js';
import { inventoryYaml, simCluster, testInventory, type SimCluster } from './bootstrap-fakes.js';
import { listLeases } from '../../src/kv/flannel-keys.js';

const dir = mkdtempSync(join(tmpdir(), 'flanctl-bootstrap-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeAll(async () => {
  mkdirSync(join(dir, 'rel'), { recursive: true });
  writeFileSync(join(dir, 'rel', 'flanneld'), '#!/usr/bin/env node\nconsole.log("flanneld")\n');
  writeFileSync(join(dir, 'rel', 'mk-docker-opts.sh'), '#!/bin/bash\n');
  writeFileSync(join(dir, 'rel', 'README.md'), 'flannel\n');
  await create({ gzip: true, file: join(dir, 'flannel.tar.gz'), cwd: join(dir, 'rel') }, ['flanneld', 'mk-docker-opts.sh', 'README.md']);
  await ensureFlanneldCert(await testInventory(inventoryYaml(), join(dir, 'inventory.yaml')));
}, 60_000); // key generation: over 10 s when the 2 shared cores are busy

const inv = (yaml = inventoryYaml({ nodes: 3 })) => testInventory(yaml, join(dir, 'inventory.yaml'));

function run(sim: SimCluster, mode: 'apply' | 'check', extra: Partial<BootstrapOptions> = {}) {
  return runBootstrap(sim.inv, {
    command: mode === 'apply' ? 'bootstrap' : 'plan',
    mode,
    output: 'silent',
    verify: false,
    connect: async (n) => sim.node(n.name).conn,
    openKv: async () => sim.kv,
    ...extra,
  });
}

/** Reuse one sim's node state (files, programs, kv) under an edited inventory. */
async function withInventory(sim: SimCluster, yaml: string): Promise<SimCluster> {
  return { ...sim, inv: await inv(yaml) };
}

describe('runBootstrap on a simulated 3-node cluster', () => {
  let sim: SimCluster;

  it('bootstraps from nothing: config, leases, services, rules, routes to every peer', async () => {
    sim = simCluster(await inv());
    sim.kv.close = async () => {}; // shared across runs
    const report = await run(sim, 'apply');
    expect(failureLines(report)).toEqual([]);
    expect(report.targets.map((t) => t.name)).toEqual(['etcd', 'node1', 'node2', 'node3']);
    expect(sim.kv.data.get('/coreos.com/network/config')).toContain('"Network":"10.244.0.0/16"');
    const leases = await listLeases(sim.kv, '/coreos.com/network');
    expect(leases.map((l) => l.publicIp).sort()).toEqual(['10.77.0.11', '10.77.0.12', '10.77.0.13']);
    for (const n of sim.nodes.values()) {
      const own = leases.find((l) => l.publicIp === n.spec.publicIp)!;
      expect(n.programs.get('flanneld')?.state).toBe('RUNNING');
      expect(n.starts).toBe(1);
      expect(n.conn.files.get('/etc/flannel/flanneld-key.pem')?.mode).toBe(0o600);
      expect([...n.conn.files.keys()].some((f) => f.includes('ca-key'))).toBe(false);
      for (const r of flanctlRules(sim.inv, own.subnet).ensure) expect(n.iptables.has(`${r.table} ${r.chain} ${r.spec.join(' ')}`)).toBe(true);
      expect([...n.routes].sort()).toEqual(leases.filter((l) => l !== own).map((l) => l.subnet).sort());
      expect(n.sysctl.get('net.ipv4.ip_forward')).toBe('1');
    }
    // Fresh nodes: flanneld is started, which is not a restart.
    expect(report.summary.restarts).toBe(0);
  });

  it('a second bootstrap changes nothing and restarts nothing, in 2 round trips per node (one fact batch, one peer batch)', async () => {
    const mark = new Map([...sim.nodes.values()].map((n) => [n, n.conn.calls.length]));
    const report = await run(sim, 'apply');
    expect(report.summary).toMatchObject({ changed: 0, restarts: 0, failed: 0 });
    for (const n of sim.nodes.values()) expect(n.starts).toBe(1);
    for (const [n, from] of mark) {
      const calls = n.conn.calls.slice(from).filter((c) => c.op !== 'close');
      const what = calls.map((c) => (c.op === 'exec' ? (c.argv[3] === 'flanctl-facts' ? `batch(${c.argv.length - 4})` : c.argv.join(' ')) : `${c.op} ${'path' in c ? c.path : ''}`));
      expect(what.length, what.join('\n')).toBe(2);
      expect(what.every((w) => w.startsWith('batch'))).toBe(true);
    }
  });

  it('plan then says no changes', async () => {
    const report = await run(sim, 'check');
    expect(renderPlan(report)).toBe('No changes. The cluster matches the inventory.');
  });

  it('after a healthzPort edit, plan shows the program change and one restart per node; bootstrap applies it', async () => {
    const edited = await withInventory(sim, inventoryYaml({ nodes: 3 }).replace('  service:', '  healthzPort: 2402\n  service:'));
    const plan = await run(edited, 'check');
    const text = renderPlan(plan);
    expect(text).toMatch(/Plan: 0 to create, 3 to change, 3 to restart on 3 nodes\./);
    expect(text.match(/^  ~ supervisord program/gm)).toHaveLength(3);
    expect(text.match(/^  ↻ flanneld service/gm)).toHaveLength(3);
    expect(text).toMatch(/- .*-healthz-port=2401/);
    expect(text).toMatch(/\+ .*-healthz-port=2402/);
    for (const n of sim.nodes.values()) expect(n.starts).toBe(1); // plan changed nothing
    const applied = await run(edited, 'apply');
    expect(applied.summary).toMatchObject({ changed: 6, restarts: 3, failed: 0 });
    for (const n of sim.nodes.values()) expect(n.starts).toBe(2);
    expect((await run(edited, 'check')).summary.changed).toBe(0);
  });
});

describe('runBootstrap edge cases', () => {
  it('plan on a fresh cluster lists creates and says the rules wait for a lease', async () => {
    const sim = simCluster(await inv());
    const report = await run(sim, 'check');
    const text = renderPlan(report);
    expect(text).toMatch(/^etcd\n  \+ network config/m);
    expect(text).toMatch(/will be created once flanneld has a lease/);
    // Starting flanneld on a fresh node creates a running service; nothing is restarted.
    expect(text).toMatch(/^  \+ flanneld service \(supervisord\): start flanneld \(new program\)/m);
    expect(text).toMatch(/Plan: \d+ to create, \d+ to change, 0 to restart on 3 nodes\./);
    expect(sim.kv.writes).toEqual([]);
    for (const n of sim.nodes.values()) expect(n.conn.writes()).toEqual([]);
  });

  it('a node that never gets a lease fails alone, named with its step; the others finish', async () => {
    const sim = simCluster(await inv());
    sim.node('node2').leases = false;
    const report = await run(sim, 'apply', { leaseTimeoutMs: 300 });
    expect(report.summary.failed).toBe(1);
    // The service step's ready wait (flanneld's own readiness) is where it shows, saying what is missing.
    expect(failureLines(report)).toEqual([expect.stringMatching(/^node2: flanneld service \(supervisord\): node2: flanneld not ready after \d+ s: flanneld is RUNNING but has not written \/run\/flannel\/subnet\.env; etcd holds no lease with PublicIP 10\.77\.0\.12/)]);
    for (const name of ['node1', 'node3']) expect(report.targets.find((t) => t.name === name)?.ok).toBe(true);
  });

  it('repairs a node whose flanneld missed a peer that started at the same instant', async () => {
    const sim = simCluster(await inv());
    sim.node('node1').dropPeers.add('10.244.3.0/24'); // node3's future subnet, missed by node1's watch
    const report = await run(sim, 'apply', { peerSettleMs: 300 });
    const node1 = report.targets.find((t) => t.name === 'node1')!;
    expect(node1.steps.find((s) => s.id === 'flanneld:peers')).toMatchObject({ status: 'changed', title: 'flanneld', change: { action: 'restart', summary: '(stale peer state: node3)' } });
    expect(report.targets.find((t) => t.name === 'node2')!.steps.find((s) => s.id === 'flanneld:peers')?.status).toBe('unchanged');
    expect(report.peerRepairs).toEqual([expect.objectContaining({ after: 'start', ok: true, found: { node1: ['node3'] }, restarted: ['node1'], rounds: [expect.objectContaining({ batchSize: 1, restarted: ['node1'], leaseChanged: [] })] })]);
    expect(sim.node('node1').starts).toBe(2);
    expect(sim.node('node1').routes.has('10.244.3.0/24')).toBe(true);
    // Rerun: nothing stale, nothing restarted.
    const again = await run(sim, 'apply', { peerSettleMs: 300 });
    expect(again.summary).toMatchObject({ changed: 0, restarts: 0 });
    expect(again.peerRepairs).toBeUndefined();
  });
});
