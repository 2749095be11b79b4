/**
 * Issue 12 (low): flanctl's temp files on the control machine are created exclusively under random
 * names, so a symlink planted at the old predictable `…tmp-<pid>` name is never written through.
 * (The SFTP side is in test/integration/ssh-connector.test.ts; state.json in security-lab.test.ts.)
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureCa } from '../../src/pki/index.js';
import { writeInventoryBackend } from '../../src/switch/inventory-edit.js';
import { writeInventoryWithoutNode } from '../../src/reset/inventory-remove.js';
import { localConnector } from '../../src/connector/local.js';
import { inventoryYaml } from './foundation-fixture.js';

const tmp = mkdtempSync(join(tmpdir(), 'flanctl-sec-tmp-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const victim = (name: string) => {
  const f = join(tmp, name);
  writeFileSync(f, 'keep\n');
  return f;
};

describe('temp files are exclusive and unpredictable', () => {
  it('pki: a symlink at <file>.tmp-<pid> is not followed when the CA key is written', async () => {
    const dir = join(tmp, 'pki');
    const v1 = victim('v1');
    const v2 = victim('v2');
    mkdirSync(dir);
    symlinkSync(v1, join(dir, `ca-key.pem.tmp-${process.pid}`));
    symlinkSync(v2, join(dir, `ca.pem.tmp-${process.pid}`));
    await ensureCa(dir, { cn: 'test-ca', expiry: '24h', key: { algo: 'ecdsa', size: 256 } });
    expect(readFileSync(v1, 'utf8')).toBe('keep\n');
    expect(readFileSync(v2, 'utf8')).toBe('keep\n');
    expect(readFileSync(join(dir, 'ca-key.pem'), 'utf8')).toMatch(/PRIVATE KEY/);
  });

  it('switch-backend: a symlink at .inventory.yaml.flanctl-<pid>.tmp is not followed when the inventory is edited', async () => {
    const file = join(tmp, 'inventory.yaml');
    writeFileSync(file, inventoryYaml());
    const v = victim('v3');
    symlinkSync(v, join(tmp, `.inventory.yaml.flanctl-${process.pid}.tmp`));
    const r = await writeInventoryBackend(file, { type: 'host-gw' });
    expect(r.changed).toBe(true);
    expect(readFileSync(v, 'utf8')).toBe('keep\n');
    expect(readFileSync(file, 'utf8')).toMatch(/host-gw/);
  });

  it('node remove: a symlink at .inventory.yaml.flanctl-<pid>.tmp is not followed when the node is taken out', async () => {
    const dir = join(tmp, 'node-remove');
    mkdirSync(dir);
    const file = join(dir, 'inventory.yaml');
    writeFileSync(file, inventoryYaml());
    const v = victim('v4');
    symlinkSync(v, join(dir, `.inventory.yaml.flanctl-${process.pid}.tmp`));
    const r = await writeInventoryWithoutNode(file, 'node2');
    expect(r.changed).toBe(true);
    expect(readFileSync(v, 'utf8')).toBe('keep\n');
    expect(readFileSync(file, 'utf8')).not.toMatch(/node2/);
  });

  it('local connector: writes leave no temp file and keep the mode', async () => {
    const c = localConnector({ name: 'local' });
    const dir = join(tmp, 'local');
    await c.write(join(dir, 'f'), 'x', 0o600);
    expect(readdirSync(dir)).toEqual(['f']);
    await c.close?.();
  });
});
