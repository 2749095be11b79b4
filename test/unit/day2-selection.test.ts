import { describe, expect, it } from 'vitest';
import { parseInventory } from '../../src/model/inventory.js';
import { limitedNames, selectNodes } from '../../src/model/selection.js';
import { batches, parseBatchSize, renderRollout } from '../../src/bootstrap/rollout.js';
import { UsageError } from '../../src/errors.js';

const text = `
network: { cidr: 10.244.0.0/16 }
etcd: { endpoints: [https://10.77.0.1:2379] }
flannel: { tarball: flannel.tar.gz }
nodes:
${[1, 2, 3, 4, 5].map((i) => `  - { name: node${i}, host: 10.77.0.${10 + i} }`).join('\n')}
  - { name: web-a, host: 10.77.0.30 }
`;

describe('--limit (model/selection.ts)', async () => {
  const { inventory: inv } = await parseInventory(text, '/x/inventory.yaml');
  it('selects names and globs in inventory order; no limit = all', () => {
    expect(selectNodes(inv, 'node4,node3').map((n) => n.name)).toEqual(['node3', 'node4']);
    expect(selectNodes(inv, 'node[45]').map((n) => n.name)).toEqual(['node4', 'node5']);
    expect(selectNodes(inv, 'web-*,node1').map((n) => n.name)).toEqual(['node1', 'web-a']);
    expect(selectNodes(inv, 'node?').length).toBe(5);
    expect(selectNodes(inv, undefined)).toBe(inv.nodes);
    expect(limitedNames(inv, '*')).toBeUndefined();
    expect([...limitedNames(inv, 'node2')!]).toEqual(['node2']);
  });
  it('an unknown name or a glob matching nothing is a usage error (exit 2) naming the flag', () => {
    const err = (() => {
      try {
        selectNodes(inv, 'node1,node9,db-*');
      } catch (e) {
        return e as UsageError;
      }
    })();
    expect(err).toBeInstanceOf(UsageError);
    expect(err!.exitCode).toBe(2);
    expect(err!.message).toContain('--limit');
    expect(err!.message).toContain('"node9", "db-*"');
  });
});

describe('rolling batches (bootstrap/rollout.ts)', () => {
  it('parses N and P%', () => {
    expect(parseBatchSize(undefined, 5)).toBe(1);
    expect(parseBatchSize('2', 5)).toBe(2);
    expect(parseBatchSize('40%', 5)).toBe(2);
    expect(parseBatchSize('1%', 5)).toBe(1);
    for (const bad of ['0', '-1', 'x', '101%', '1.5']) expect(() => parseBatchSize(bad, 5)).toThrow(/--batch-size/);
    expect(batches([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
  });
  it('says where a rollout stopped and what is untouched', () => {
    const lines = renderRollout({
      batchSize: 1,
      batches: [
        { index: 1, nodes: ['node1'], ok: true, downtimeMs: 1200, durationMs: 3000 },
        { index: 2, nodes: ['node2'], ok: false, downtimeMs: 0, durationMs: 500, error: 'node2: upload failed' },
      ],
      stopped: { batch: 2, nodes: ['node2'], untouched: ['node3'], reason: 'node2: upload failed' },
    });
    expect(lines[0]).toBe('batch 1/3 node1: ok, flanneld downtime 1.2 s, 3.0 s in all');
    expect(lines[2]).toBe('rollout stopped at batch 2 (node2): node2: upload failed');
    expect(lines[3]).toContain('untouched: node3');
  });
});
