/**
 * Interim fixture for test/e2e/standin.test.ts until test/helpers/lab.ts (lab helper) exists: the same
 * TestLab shape, built directly on src/lab/lab.ts (labUp / labExec / labDown) in a fresh temp dir.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labDown, labExec, labUp } from '../../src/lab/lab.js';

export interface TestLab {
  dir: string;
  inventoryPath: string;
  nodes: { name: string; ip: string }[];
  exec(node: string, argv: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  down(): Promise<void>;
}

export async function startLab(opts: { nodes: number; tarball?: string }): Promise<TestLab> {
  const dir = mkdtempSync(join(tmpdir(), 'flanctl-standin-lab-'));
  const down = async () => {
    await labDown({ dir, purge: true }).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const state = await labUp({ dir, nodes: opts.nodes, flannelTarball: opts.tarball });
    return {
      dir,
      inventoryPath: state.inventory ?? join(dir, 'inventory.yaml'),
      nodes: state.nodes.map((n) => ({ name: n.name, ip: n.ip })),
      exec: (node, argv) => labExec(dir, node, argv),
      down,
    };
  } catch (e) {
    await down();
    throw e;
  }
}
