/**
 * One definition of "up" (issue 10, defect 5): STARTING is not up and not down; the service step and
 * verify both wait for it to settle, then judge RUNNING only.
 */
import { describe, expect, it } from 'vitest';
import { DEFINITION_ID, serviceDefinitionStep, serviceStep } from '../../src/steps/service.js';
import { checkService } from '../../src/verify/remote-checks.js';
import { applySteps, ctxFor, inventoryYaml, simCluster, testInventory, type SimProgram } from './bootstrap-fakes.js';

async function setup() {
  const inv = await testInventory(inventoryYaml({ service: 'supervisord', extra: '' }));
  const sim = simCluster(inv);
  const n = sim.node('node1');
  const def = serviceDefinitionStep(inv, n.spec, { hasMkDockerOpts: true });
  const svc = serviceStep(inv, { dependsOn: ['binary:flanneld', DEFINITION_ID], watcherDependsOn: [] });
  await applySteps([def, svc], ctxFor(sim, 'node1'));
  return { inv, sim, n, def, svc };
}

/** The program reports `first` for `times` status reads, then `then`. */
function flip(p: SimProgram, first: SimProgram['state'], times: number, then: SimProgram['state']): void {
  let reads = 0;
  Object.defineProperty(p, 'state', {
    configurable: true,
    get: () => (reads++ < times ? first : then),
    set: (v) => Object.defineProperty(p, 'state', { value: v, writable: true, configurable: true, enumerable: true }),
  });
}

describe('flanneld "up" is RUNNING, and STARTING is waited for', () => {
  it('bootstrap right after a crash: STARTING that becomes RUNNING is no change and verify passes', async () => {
    const { inv, sim, n, def, svc } = await setup();
    flip(n.programs.get('flanneld')!, 'STARTING', 2, 'RUNNING');
    expect(await applySteps([def, svc], ctxFor(sim, 'node1'))).toEqual([]);
    flip(n.programs.get('flanneld')!, 'STARTING', 2, 'RUNNING');
    expect(await checkService(n.conn, inv, n.spec)).toMatchObject({ ok: true });
  });

  it('STARTING that ends FATAL is started again by the service step (not counted as up)', async () => {
    const { sim, n, def, svc } = await setup();
    const starts = n.starts;
    flip(n.programs.get('flanneld')!, 'STARTING', 2, 'FATAL');
    const changes = await applySteps([def, svc], ctxFor(sim, 'node1'));
    expect(changes.map((c) => c.id)).toEqual(['service:flanneld']);
    expect(n.starts).toBe(starts + 1);
  });
});
