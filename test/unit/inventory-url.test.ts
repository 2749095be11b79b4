import { describe, expect, it } from 'vitest';
import { InventoryError } from '../../src/errors.js';
import { parseInventory } from '../../src/model/inventory.js';
import { readFileSync } from 'node:fs';

// Found by the fuzz suite: a host that passes the endpoint regex but not WHATWG URL parsing made the
// network rules throw a TypeError (exit 1, a stack trace) instead of an inventory problem (exit 2).
describe('etcd endpoints the URL parser refuses', () => {
  it('is an InventoryError naming etcd.endpoints[0], not a TypeError', async () => {
    const text = readFileSync(new URL('../../inventory.example.yaml', import.meta.url), 'utf8');
    const bad = text.replace(/(endpoints:[^\n]*\n\s+- )\S+/, '$1https://A192.168.10.1:2379');
    expect(bad).not.toBe(text);
    const err = await parseInventory(bad, '/x/inventory.yaml').then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(InventoryError);
    expect(String((err as Error).message)).toMatch(/etcd\.endpoints\[0\].*valid host/);
  });
});
