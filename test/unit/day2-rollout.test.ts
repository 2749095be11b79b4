/** Rolling restarts over the simulated cluster (fakes): batches, and the first failing batch stops the rollout. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBootstrap } from '../../src/bootstrap/bootstrap.js';
import { ensureFlanneldCert } from '../../src/pki/index.js';
import { inventoryYaml, simCluster, testInventory, type SimCluster } from './bootstrap-fakes.js';

const dir = mkdtempSync(join(tmpdir(), 'flanctl-rollout-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeAll(async () => {
  mkdirSync(join(dir, 'rel'), { recursive: true });
  writeFileSync(join(dir, 'rel', 'flanneld'), '#!/usr/bin/env node\nconsole.log("flanneld")\n');
  await create({ gzip: true, file: join(dir, 'flannel.tar.gz'), cwd: join(dir, 'rel') }, ['flanneld']);
  await ensureFlanneldCert(await testInventory(inventoryYaml(), join(dir, 'inventory.yaml')));
});

const run = (sim: SimCluster, batchSize?: string) =>
  runBootstrap(sim.inv, { command: 'bootstrap', mode: 'apply', output: 'silent', verify: false, batchSize, connect: async (n) => sim.node(n.name).conn, openKv: async () => sim.kv });

describe('rolling restarts on a running cluster', () => {
  it('restarts in batches of --batch-size, each batch after the previous one', async () => {
    const sim = simCluster(await testInventory(inventoryYaml({ nodes: 3 }), join(dir, 'inventory.yaml')));
    sim.kv.close = async () => {};
    expect((await run(sim)).rollout).toBeUndefined(); // fresh nodes: started at once
    const edited = { ...sim, inv: await testInventory(inventoryYaml({ nodes: 3 }).replace('  service:', '  healthzPort: 2402\n  service:'), join(dir, 'inventory.yaml')) };
    const r = await run(edited, '2');
    expect(r.summary).toMatchObject({ restarts: 3, failed: 0 });
    expect(r.rollout?.batches.map((b) => b.nodes)).toEqual([['node1', 'node2'], ['node3']]);
    expect(r.rollout?.stopped).toBeUndefined();
    expect((await run(edited)).rollout).toBeUndefined(); // nothing to restart
  });

  it('stops at the first failing batch and leaves the later ones untouched', async () => {
    const sim = simCluster(await testInventory(inventoryYaml({ nodes: 3 }), join(dir, 'inventory.yaml')));
    sim.kv.close = async () => {};
    await run(sim);
    const edited = { ...sim, inv: await testInventory(inventoryYaml({ nodes: 3 }).replace('  service:', '  healthzPort: 2403\n  service:'), join(dir, 'inventory.yaml')) };
    sim.node('node2').conn.on(['sh', '-c', /./, 'flanctl-supervisor-update'], { code: 2, stdout: '1 1\nerror: CANT_REREAD' });
    const r = await run(edited);
    expect(r.rollout?.batches.map((b) => [b.nodes.join(), b.ok])).toEqual([['node1', true], ['node2', false]]);
    expect(r.rollout?.stopped).toMatchObject({ batch: 2, nodes: ['node2'], untouched: ['node3'] });
    expect(r.targets.find((t) => t.name === 'node3')?.error).toMatch(/rollout stopped at batch 2/);
    expect(sim.node('node3').starts).toBe(1);
    expect(sim.node('node1').starts).toBe(2);
  });
});
