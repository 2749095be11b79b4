/**
 * Inventories for the foundation unit tests: a small valid base, patched per test case.
 */
import { stringify } from 'yaml';
import { parseInventory, type Inventory } from '../../src/model/inventory.js';
import { InventoryError, type InventoryProblem } from '../../src/errors.js';

export const baseInventory = () => ({
  network: { cidr: '10.244.0.0/16', backend: { type: 'vxlan' } } as Record<string, unknown>,
  etcd: { endpoints: ['https://10.77.0.1:2379'] } as Record<string, unknown>,
  flannel: { tarball: 'flannel.tar.gz' } as Record<string, unknown>,
  nodes: [
    { name: 'node1', host: '10.77.0.11' },
    { name: 'node2', host: '10.77.0.12' },
  ] as Record<string, unknown>[],
} as Record<string, unknown>);

/** n nodes node1..nodeN on 10.77.x.y */
export const nodes = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `node${i + 1}`, host: `10.77.${Math.floor((i + 1) / 250)}.${((i + 1) % 250) + 1}` }));

function merge(target: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  for (const [k, v] of Object.entries(patch)) {
    const t = target[k];
    if (v && typeof v === 'object' && !Array.isArray(v) && t && typeof t === 'object' && !Array.isArray(t)) merge(t as Record<string, unknown>, v as Record<string, unknown>);
    else if (v === undefined) delete target[k];
    else target[k] = v;
  }
  return target;
}

export const inventoryYaml = (patch: Record<string, unknown> = {}) => stringify(merge(baseInventory(), patch));

export async function load(patch: Record<string, unknown> = {}): Promise<Inventory> {
  return (await parseInventory(inventoryYaml(patch), '/srv/cluster/inventory.yaml')).inventory;
}

/** The problems loading reports ([] when it loads). */
export async function problemsOf(patch: Record<string, unknown>): Promise<InventoryProblem[]> {
  try {
    await load(patch);
    return [];
  } catch (err) {
    if (err instanceof InventoryError) return err.problems;
    throw err;
  }
}
