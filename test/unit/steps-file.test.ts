import { describe, expect, it } from 'vitest';
import { fakeConnector } from '../../src/connector/fake.js';
import { binaryFromBuffer, binaryStep } from '../../src/steps/binary.js';
import { dirStep, fileStep } from '../../src/steps/file.js';
import { ctxFor, simCluster, testInventory } from './bootstrap-fakes.js';

async function sim() {
  const s = simCluster(await testInventory());
  return { s, n: s.node('node1'), ctx: ctxFor(s, 'node1') };
}

describe('fileStep', () => {
  it('creates a missing file, then checks clean', async () => {
    const { n, ctx } = await sim();
    const step = fileStep({ id: 'f', title: 'f', path: '/etc/x.conf', content: 'a=1\n', mode: 0o644 });
    const c = await step.check(ctx);
    expect(c?.action).toBe('create');
    await c!.apply();
    expect(n.conn.text('/etc/x.conf')).toBe('a=1\n');
    expect(n.conn.files.get('/etc/x.conf')!.mode).toBe(0o644);
    expect(await step.check(ctx)).toBeUndefined();
  });

  it('updates changed content with a short diff of the changed line only', async () => {
    const { n, ctx } = await sim();
    const before = Array.from({ length: 20 }, (_, i) => `line${i}`).join('\n') + '\n';
    n.conn.files.set('/etc/x.conf', { content: Buffer.from(before), mode: 0o644 });
    const after = before.replace('line10', 'line10 changed');
    const step = fileStep({ id: 'f', title: 'f', path: '/etc/x.conf', content: after, mode: 0o644 });
    const c = await step.check(ctx);
    expect(c?.action).toBe('update');
    expect(c?.diff?.before).toContain('line10');
    expect(c?.diff?.after).toContain('line10 changed');
    expect(c?.diff?.after).not.toContain('line2\n');
    expect(c!.diff!.after.split('\n').length).toBeLessThan(8);
    await c!.apply();
    expect(await step.check(ctx)).toBeUndefined();
  });

  it('fixes only the mode when content matches (chmod, no upload)', async () => {
    const { n, ctx } = await sim();
    n.conn.files.set('/etc/flannel/flanneld-key.pem', { content: Buffer.from('KEY'), mode: 0o644 });
    const step = fileStep({ id: 'k', title: 'k', path: '/etc/flannel/flanneld-key.pem', content: 'KEY', mode: 0o600, secret: true });
    const c = await step.check(ctx);
    expect(c?.summary).toContain('0644 → 0600');
    await c!.apply();
    expect(n.conn.writes()).toHaveLength(0);
    expect(n.conn.files.get('/etc/flannel/flanneld-key.pem')!.mode).toBe(0o600);
    expect(await step.check(ctx)).toBeUndefined();
  });

  it('never reads back or diffs a secret', async () => {
    const { n, ctx } = await sim();
    n.conn.files.set('/etc/flannel/flanneld-key.pem', { content: Buffer.from('OLD-SECRET'), mode: 0o600 });
    const step = fileStep({ id: 'k', title: 'k', path: '/etc/flannel/flanneld-key.pem', content: 'NEW-SECRET', mode: 0o600, secret: true });
    const c = await step.check(ctx);
    expect(c?.action).toBe('update');
    expect(c?.diff).toBeUndefined();
    expect(JSON.stringify(c)).not.toMatch(/SECRET/);
    expect(n.conn.calls.some((x) => x.op === 'read')).toBe(false);
    await c!.apply();
    expect(n.conn.text('/etc/flannel/flanneld-key.pem')).toBe('NEW-SECRET');
  });

  it('refuses to write content that fails validation', async () => {
    const { n, ctx } = await sim();
    const step = fileStep({ id: 'f', title: 'f', path: '/etc/x.conf', content: 'junk', mode: 0o644, validate: () => ['line 1: bad'] });
    const c = await step.check(ctx);
    await expect(c!.apply()).rejects.toThrow(/refusing to write \/etc\/x.conf/);
    expect(n.conn.writes()).toHaveLength(0);
  });
});

describe('binaryStep', () => {
  const bin = Buffer.concat([Buffer.from('\x7fELF'), Buffer.alloc(4096, 7)]);
  const file = binaryFromBuffer(bin);

  it('uploads when missing, skips when the remote sha256 matches', async () => {
    const { n, ctx } = await sim();
    const step = binaryStep('binary:flanneld', 'flanneld', '/opt/flannel/bin/flanneld', file);
    const c = await step.check(ctx);
    expect(c?.action).toBe('create');
    expect(c?.diff).toBeUndefined();
    await c!.apply();
    expect(n.conn.files.get('/opt/flannel/bin/flanneld')!.mode).toBe(0o755);
    n.conn.calls.length = 0;
    expect(await step.check(ctx)).toBeUndefined();
    expect(n.conn.writes()).toHaveLength(0);
    expect(n.conn.execs().some((a) => a[2]?.includes('sha256sum'))).toBe(true);
  });

  it('replaces a different binary and shows sha256s, not content', async () => {
    const { n, ctx } = await sim();
    n.conn.files.set('/opt/flannel/bin/flanneld', { content: Buffer.from('old build'), mode: 0o755 });
    const c = await binaryStep('binary:flanneld', 'flanneld', '/opt/flannel/bin/flanneld', file).check(ctx);
    expect(c?.action).toBe('update');
    expect(c?.diff?.after).toContain(file.sha256.slice(0, 12));
    expect(n.conn.calls.some((x) => x.op === 'read')).toBe(false);
  });

  it('a binary known by its digest is read only for an upload: not for a check that finds it in place', async () => {
    const { n, ctx } = await sim();
    let loads = 0;
    const lazy = { sha256: file.sha256, size: file.size, load: async () => (loads++, bin) };
    const step = binaryStep('binary:flanneld', 'flanneld', '/opt/flannel/bin/flanneld', lazy);
    const c = await step.check(ctx);
    expect(c?.summary).toContain('4.0 kB');
    expect(loads).toBe(0);
    await c!.apply();
    expect(loads).toBe(1);
    expect(n.conn.files.get('/opt/flannel/bin/flanneld')!.content.equals(bin)).toBe(true);
    expect(await step.check(ctx)).toBeUndefined();
    expect(loads).toBe(1);
  });
});

describe('dirStep', () => {
  it('creates a missing directory once', async () => {
    const { n, ctx } = await sim();
    const step = dirStep('dir:log', '/var/log/flanneld');
    const c = await step.check(ctx);
    await c!.apply();
    expect(n.dirs.has('/var/log/flanneld')).toBe(true);
    expect(await step.check(ctx)).toBeUndefined();
  });
});

describe('fakeConnector-only check (no sim)', () => {
  it('a missing stat means create', async () => {
    const conn = fakeConnector({ name: 'n' }).on(['sh'], { code: 1 });
    const inv = await testInventory();
    const c = await fileStep({ id: 'f', title: 'f', path: '/x', content: 'y', mode: 0o644 }).check({ inventory: inv, node: inv.nodes[0], conn, touched: new Set() });
    expect(c?.action).toBe('create');
  });
});
