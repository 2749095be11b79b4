/**
 * One round trip to learn a node (issue 15 item 1): the facts batch (connector/facts.ts) and the
 * honesty rules of the caching connector, with the FakeConnector; the batch script itself runs in
 * a real local `sh` (localConnector), framing parsed and validated.
 */
import { describe, expect, it } from 'vitest';
import { fakeConnector } from '../../src/connector/fake.js';
import { localConnector } from '../../src/connector/local.js';
import { cachingConnector, factsArgv, FactsFormatError, parseFacts } from '../../src/connector/facts.js';
import { execFileSync } from 'node:child_process';
import { readArgv, statArgv } from '../../src/connector/remote-scripts.js';
import { groupablePath, splitStatMany, statManyArgv } from '../../src/connector/stat-group.js';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { converge, type Target } from '../../src/engine/engine.js';
import type { Step } from '../../src/engine/step.js';
import type { Inventory } from '../../src/model/inventory.js';

describe('the facts script (real sh)', () => {
  it('runs every argv exactly (quotes, globs, newlines) in one exec and frames stdout, stderr and the exit code of each', async () => {
    const reads = [
      ['printf', '%s|', "it's", '*', '$HOME', 'a b'],
      ['sh', '-c', 'printf "x\\n\\n"; echo oops >&2; exit 3'],
      ['flanctl-no-such-command-xyz'],
      ['printf', ''],
      ['printf', 'end 1\n0 0 0 0\n'], // output that looks like framing is just bytes
    ];
    const local = localConnector({ name: 'local' });
    const r = await local.exec(factsArgv(reads));
    expect(r.code).toBe(0);
    const got = parseFacts(r.stdout, reads.length);
    expect(got.map((g) => g.stdout.toString())).toEqual([`it's|*|$HOME|a b|`, 'x\n\n', '', '', 'end 1\n0 0 0 0\n']);
    expect(got.map((g) => g.code)).toEqual([0, 3, 127, 0, 0]);
    expect(got[1].stderr).toBe('oops\n');
    expect(got[2].stderr).toMatch(/not found/);
    expect(parseFacts((await local.exec(factsArgv([]))).stdout, 0)).toEqual([]);
  });

  it("the file checks of a batch in one command give each path exactly its own statArgv's stdout and exit code (real sh)", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flanctl-statmany-'));
    try {
      writeFileSync(join(dir, 'a.pem'), 'A\n', { mode: 0o644 });
      writeFileSync(join(dir, 'key with space'), 'K', { mode: 0o600 });
      writeFileSync(join(dir, 'empty'), '', { mode: 0o755 });
      mkdirSync(join(dir, 'sub'));
      symlinkSync(join(dir, 'a.pem'), join(dir, 'link'));
      const paths = ['a.pem', 'key with space', 'empty', 'sub', 'link', 'missing', 'sub/nope'].map((p) => join(dir, p));
      const local = localConnector({ name: 'local' });
      const batch = await local.exec(factsArgv([statManyArgv(paths)]));
      const split = splitStatMany(paths, parseFacts(batch.stdout, 1)[0])!;
      expect(split).toBeDefined();
      for (const p of paths) {
        const own = await local.exec(statArgv(p));
        expect({ path: p, stdout: split.get(p)!.stdout.toString(), ok: split.get(p)!.code === 0 }).toEqual({ path: p, stdout: own.stdout, ok: own.code === 0 });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('statArgv prints the same with openssl (SHA instructions) as with sha256sum alone, and so does the grouped read (real sh)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flanctl-sha-'));
    try {
      const bin = join(dir, 'bin');
      mkdirSync(bin);
      for (const tool of ['sh', 'stat', 'sha256sum', 'mktemp', 'cat', 'rm']) symlinkSync(execFileSync('sh', ['-c', `command -v ${tool}`]).toString().trim(), join(bin, tool));
      writeFileSync(join(dir, 'big'), Buffer.alloc(3 << 20, 7), { mode: 0o755 });
      writeFileSync(join(dir, 'a b'), 'A\n', { mode: 0o640 });
      writeFileSync(join(dir, 'back\\slash'), 'B', { mode: 0o600 });
      writeFileSync(join(dir, 'empty'), '');
      symlinkSync(join(dir, 'big'), join(dir, 'link'));
      const paths = ['big', 'a b', 'back\\slash', 'empty', 'link', 'bin', 'missing'].map((p) => join(dir, p));
      const withOpenssl = localConnector({ name: 'local' });
      const shaOnly = localConnector({ name: 'local', prefix: ['env', `PATH=${bin}`] });
      expect((await withOpenssl.exec(['sh', '-c', 'command -v openssl'])).code, 'openssl on this machine').toBe(0);
      expect((await shaOnly.exec(['sh', '-c', 'command -v openssl'])).code).not.toBe(0);
      for (const p of paths) {
        const [a, b] = [await withOpenssl.exec(statArgv(p)), await shaOnly.exec(statArgv(p))];
        expect({ p, out: a.stdout, ok: a.code === 0 }).toEqual({ p, out: b.stdout, ok: b.code === 0 });
      }
      const grouped = paths.filter((p) => groupablePath(statArgv(p)));
      for (const conn of [withOpenssl, shaOnly]) {
        const split = splitStatMany(grouped, parseFacts((await conn.exec(factsArgv([statManyArgv(grouped)]))).stdout, 1)[0])!;
        for (const p of grouped) expect(split.get(p)!.stdout.toString()).toBe((await shaOnly.exec(statArgv(p))).stdout);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses framing that is off: truncated, wrong index, missing trailer, lengths that do not add up', () => {
    const good = '0 0 2 1\n1 1 0 0\nend 2\nhie';
    expect(parseFacts(good, 2).map((g) => [g.code, g.stdout.toString(), g.stderr])).toEqual([[0, 'hi', 'e'], [1, '', '']]);
    expect(parseFacts('end 0\n', 0)).toEqual([]);
    for (const bad of ['0 0 5 1\n1 1 0 0\nend 2\nhie', '1 0 2 1\n0 1 0 0\nend 2\nhie', '0 0 2 1\n1 1 0 0\nhie', `${good}junk`, '0 0 2 1\n1 1 0 0\nend 3\nhie', '0 0 2 1\n1 1 0 0\nend 2\nh', '0 0 2 1\n']) {
      expect(() => parseFacts(bad, 2), JSON.stringify(bad)).toThrow(FactsFormatError);
    }
  });
});

describe('caching connector: honesty rules', () => {
  const sysctl = ['sysctl', '-n', 'net.ipv4.ip_forward'];
  const status = ['supervisorctl', 'status', 'flanneld'];
  const setup = () => {
    const fake = fakeConnector({ name: 'n1', files: { '/run/flannel/subnet.env': 'FLANNEL_SUBNET=10.244.5.1/24\n' } });
    let forward = '1';
    fake.on(sysctl, () => ({ stdout: `${forward}\n` })).on(status, { stdout: 'flanneld RUNNING pid 7\n' });
    return { fake, conn: cachingConnector(fake), setForward: (v: string) => (forward = v) };
  };

  it('fetches all reads in ONE exec and serves exact matches from it, each at most once', async () => {
    const { fake, conn, setForward } = setup();
    expect(await conn.prefetch([sysctl, status, readArgv('/run/flannel/subnet.env'), readArgv('/nope')])).toBe(4);
    expect(fake.execs()).toHaveLength(1);
    setForward('0'); // the node changes after the batch: the first answer is the batch's, the second the wire's
    expect((await conn.exec(sysctl)).stdout).toBe('1\n');
    expect((await conn.read('/run/flannel/subnet.env'))?.toString()).toMatch(/10\.244\.5\.1/);
    expect(await conn.read('/nope')).toBeUndefined();
    expect(fake.calls.filter((c) => c.op !== 'exec')).toEqual([]); // reads were answered from the batch
    expect((await conn.exec(sysctl)).stdout).toBe('0\n'); // served once; now from the wire
    expect((await conn.exec(['sysctl', '-n', 'net.ipv4.conf.all.forwarding'])).code).toBe(127); // not prefetched: wire
    expect(fake.execs()).toHaveLength(3);
    expect(conn.stats).toMatchObject({ batches: 1, served: 3, execs: 3 });
  });

  it('a read declared twice is fetched once and served twice; prefetching again fetches only what is not held', async () => {
    const { fake, conn } = setup();
    await conn.prefetch([status, status, sysctl]);
    expect(fake.execs()[0].slice(4)).toEqual(['supervisorctl status flanneld', 'sysctl -n net.ipv4.ip_forward']);
    expect(await conn.prefetch([status, sysctl])).toBe(0);
    expect(fake.execs()).toHaveLength(1);
    await conn.exec(status);
    await conn.exec(status);
    await conn.exec(status);
    expect(fake.execs()).toHaveLength(2); // the third went to the wire
  });

  it('a read the batch could not answer cleanly (not content, not "missing") is asked again through the connector', async () => {
    const { fake, conn } = setup();
    fake.on(readArgv('/run/flannel/subnet.env'), { code: 1, stderr: 'cat: Permission denied' });
    await conn.prefetch([readArgv('/run/flannel/subnet.env')]);
    expect((await conn.read('/run/flannel/subnet.env'))?.toString()).toMatch(/FLANNEL_SUBNET/);
    expect(fake.calls.filter((c) => c.op === 'read')).toHaveLength(1);
    expect(conn.stats.served).toBe(0);
  });

  it('forget() drops every held answer; write(path) and forgetMentioning drop those that name the path, a parent dir or the key', async () => {
    const { fake, conn } = setup();
    await conn.prefetch([sysctl, status]);
    conn.forget();
    await conn.exec(sysctl);
    expect(fake.execs()).toHaveLength(2);
    const stat = ['sh', '-c', 'stat -L -c %a -- "$1" && sha256sum -- "$1"', 'flanctl-stat', '/etc/flannel/ca.pem'];
    const dir = ['test', '-d', '/etc/flannel'];
    const other = ['test', '-d', '/etc/flannel-other'];
    await conn.prefetch([sysctl, status, stat, dir, other, readArgv('/etc/flannel/ca.pem')]);
    await conn.write('/etc/flannel/ca.pem', 'x', 0o644);
    await conn.exec(status); // unrelated: still from the batch
    await conn.exec(other); // a sibling that only shares a prefix: still from the batch
    expect(fake.execs()).toHaveLength(3);
    await conn.exec(stat); // names the path: the wire
    await conn.exec(dir); // its parent directory (write creates missing parents): the wire
    expect((await conn.read('/etc/flannel/ca.pem'))?.toString()).toBe('x'); // read after the write: not the batch's "missing"
    expect(fake.execs()).toHaveLength(5);
    expect(await conn.prefetch([sysctl])).toBe(0); // still held from the second batch
    conn.forgetMentioning(['net.ipv4.ip_forward']); // e.g. after `sysctl -w net.ipv4.ip_forward=1`
    await conn.exec(sysctl);
    expect(fake.execs()).toHaveLength(6);
  });

  it('file checks ride in the batch as ONE command and are each served; output it cannot read leaves them to the wire', async () => {
    const fake = fakeConnector({ name: 'n1', files: { '/etc/a': { content: 'A', mode: 0o644 }, '/etc/b': { content: 'B', mode: 0o600 } } });
    const conn = cachingConnector(fake);
    await conn.prefetch([statArgv('/etc/a'), statArgv('/etc/b'), statArgv('/etc/c'), readArgv('/etc/a')]);
    const batch = fake.execs()[0];
    expect(batch.slice(4).filter((q) => q.includes('flanctl-stat-many'))).toHaveLength(1);
    expect(batch.slice(4).filter((q) => q.includes("'flanctl-stat'"))).toEqual([]);
    expect((await conn.exec(statArgv('/etc/b'))).stdout).toMatch(/^600\n[0-9a-f]{64} {2}\/etc\/b\n$/);
    expect((await conn.exec(statArgv('/etc/c'))).code).not.toBe(0);
    expect(fake.execs()).toHaveLength(1);
    expect(splitStatMany(['/etc/a'], { code: 0, stdout: Buffer.from('644 /etc/other\n@@flanctl-sha\n'), stderr: '' })).toBeUndefined();
    // Only exactly statArgv(path) is grouped: the same tag with another script keeps its own command.
    expect(groupablePath(statArgv('/etc/a'))).toBe('/etc/a');
    expect(groupablePath(['sh', '-c', 'cat -- "$1"', 'flanctl-stat', '/etc/a'])).toBeUndefined();
  });

  it('a failed or garbled batch caches nothing (every read then goes to the wire); stdin execs are never served', async () => {
    const { fake, conn } = setup();
    fake.on(/flanctl-facts/, { code: 0, stdout: '0 0 99 0\nend 1\nshort' }, 1);
    expect(await conn.prefetch([sysctl])).toBe(0);
    await conn.exec(sysctl);
    expect(fake.execs()).toHaveLength(2);
    fake.on(/flanctl-facts/, { code: 97, stderr: 'mktemp: no space' }, 1);
    expect(await conn.prefetch([sysctl])).toBe(0);
    await conn.prefetch([status]);
    await conn.exec(status, { stdin: 'x' });
    expect(fake.execs()).toHaveLength(5);
  });
});

describe('engine: one round trip per target, honest after a change', () => {
  const inventory = { nodes: [] } as unknown as Inventory;
  /** A step that wants `path` to hold `want`: reads it with cat, writes it on apply. */
  const catStep = (id: string, path: string, want: string): Step => ({
    id,
    title: id,
    reads: () => [['cat', path]],
    async check(ctx) {
      const r = await ctx.conn!.exec(['cat', path]);
      if (r.code === 0 && r.stdout === want) return undefined;
      return { action: 'update', summary: `${path} := ${want}`, apply: () => ctx.conn!.write(path, want, 0o644) };
    },
  });
  const steps = [catStep('a', '/a', 'A'), catStep('b', '/b', 'B'), catStep('c', '/a', 'A')];

  it('a converged target costs one exec; the cache is dropped when the target ends', async () => {
    const fake = fakeConnector({ name: 'n1', files: { '/a': 'A', '/b': 'B' } });
    const conn = cachingConnector(fake);
    const t: Target = { name: 'n1', steps, open: async () => ({ inventory, conn }) };
    const r = await converge([t], { command: 'test', mode: 'apply', output: 'silent' });
    expect(r.summary).toMatchObject({ changed: 0, unchanged: 3 });
    expect(fake.execs()).toHaveLength(1);
    expect(await conn.prefetch([])).toBe(0);
    await conn.exec(['cat', '/a']); // nothing held after the target: the wire
    expect(fake.execs()).toHaveLength(2);
  });

  it('after an applied change, later checks re-read from the node (one new batch for the steps still to come) instead of the batch that predates it', async () => {
    const fake = fakeConnector({ name: 'n1', files: { '/a': 'old', '/b': 'B' } });
    const conn = cachingConnector(fake);
    const t: Target = { name: 'n1', steps, open: async () => ({ inventory, conn }) };
    const r = await converge([t], { command: 'test', mode: 'apply', output: 'silent' });
    // Step c reads /a again: the first batch said "old", the node now holds "A": no second change.
    expect(r.targets[0].steps.map((s) => s.status)).toEqual(['changed', 'unchanged', 'unchanged']);
    const wire = fake.execs();
    expect(wire.map((a) => (a[0] === 'sh' ? 'batch' : a.join(' ')))).toEqual(['batch', 'batch']);
    expect(wire[1].slice(4)).toEqual(['cat /b', 'cat /a']); // fetched after the write
    expect(fake.calls.findIndex((c) => c.op === 'write')).toBeLessThan(fake.calls.findIndex((c, i) => i > 1 && c.op === 'exec'));
  });

  it('a change that says what it affects keeps the other held answers: later unrelated checks still come from the batch', async () => {
    const fake = fakeConnector({ name: 'n1', files: { '/a': 'old', '/b': 'B' } });
    const conn = cachingConnector(fake);
    const declared = steps.map((s) => ({
      ...s,
      async check(ctx: Parameters<Step['check']>[0]) {
        const c = await s.check(ctx);
        return c && { ...c, affects: [s.id === 'b' ? '/b' : '/a'] };
      },
    }));
    const t: Target = { name: 'n1', steps: declared, open: async () => ({ inventory, conn }) };
    const r = await converge([t], { command: 'test', mode: 'apply', output: 'silent' });
    expect(r.targets[0].steps.map((s) => s.status)).toEqual(['changed', 'unchanged', 'unchanged']);
    // /b is served from the batch; /a (written) is read again from the node.
    expect(fake.execs().map((a) => a[0] === 'sh' ? 'batch' : a.join(' '))).toEqual(['batch', 'cat /a']);
  });

  it('plan (mode check) changes nothing, so every check is answered from the one batch', async () => {
    const fake = fakeConnector({ name: 'n1', files: { '/a': 'old' } });
    const t: Target = { name: 'n1', steps, open: async () => ({ inventory, conn: cachingConnector(fake) }) };
    const r = await converge([t], { command: 'plan', mode: 'check', output: 'silent' });
    expect(r.summary.changed).toBe(3);
    expect(fake.execs()).toHaveLength(1);
  });
});
