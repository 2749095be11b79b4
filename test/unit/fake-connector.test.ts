import { describe, expect, it } from 'vitest';
import { run } from '../../src/connector/connector.js';
import { fakeConnector } from '../../src/connector/fake.js';
import { remoteMatches, remoteSha256, sha256Hex } from '../../src/connector/sha256.js';
import { ExecError, HostKeyError, SshError } from '../../src/errors.js';
import type { Inventory, NodeSpec } from '../../src/model/inventory.js';
import { openPool } from '../../src/connector/pool.js';

describe('fakeConnector', () => {
  it('keeps files with modes and records reads and writes', async () => {
    const c = fakeConnector({ name: 'n1', files: { '/etc/a': 'A', '/etc/k': { content: 'secret', mode: 0o600 } } });
    expect((await c.read('/etc/a'))?.toString()).toBe('A');
    expect(await c.read('/nope')).toBeUndefined();
    await c.write('/opt/x', Buffer.from([0, 1, 2]), 0o755);
    expect(c.files.get('/opt/x')).toEqual({ content: Buffer.from([0, 1, 2]), mode: 0o755 });
    expect(c.files.get('/etc/k')!.mode).toBe(0o600);
    expect(c.calls.map((x) => x.op)).toEqual(['read', 'read', 'write']);
    expect(c.writes().map((w) => w.path)).toEqual(['/opt/x']);
  });

  it('answers exec from scripts by argv prefix, regexp or predicate; later scripts win; times limits', async () => {
    const c = fakeConnector()
      .on(['systemctl', 'is-active'], { code: 3, stdout: 'inactive\n' })
      .on(/is-active flanneld/, { stdout: 'active\n' }, 1)
      .on((argv) => argv[0] === 'ip', (argv) => ({ stdout: argv.join(',') }));
    expect(await c.exec(['systemctl', 'is-active', 'flanneld'])).toEqual({ code: 0, stdout: 'active\n', stderr: '' });
    expect(await c.exec(['systemctl', 'is-active', 'flanneld'])).toEqual({ code: 3, stdout: 'inactive\n', stderr: '' });
    expect((await c.exec(['ip', 'link'])).stdout).toBe('ip,link');
    const miss = await c.exec(['iptables', '-C']);
    expect(miss.code).toBe(127);
    expect(miss.stderr).toContain('iptables');
    await expect(run(c, ['iptables', '-C'])).rejects.toBeInstanceOf(ExecError);
    expect(c.execs()).toHaveLength(5);
  });

  it('lets a response function change the files (e.g. a service writing subnet.env)', async () => {
    const c = fakeConnector().on(['systemctl', 'start'], (_argv, _o, f) => {
      f.files.set('/run/flannel/subnet.env', { content: Buffer.from('FLANNEL_SUBNET=10.244.3.1/24\n'), mode: 0o644 });
      return {};
    });
    await run(c, ['systemctl', 'start', 'flanneld']);
    expect(c.text('/run/flannel/subnet.env')).toContain('10.244.3.1/24');
  });

  it('implements sha256sum over its files, so remoteSha256 / skip-upload logic works on it', async () => {
    const bin = Buffer.from('flanneld binary');
    const c = fakeConnector({ files: { '/opt/flannel/bin/flanneld': bin } });
    expect(await remoteSha256(c, '/opt/flannel/bin/flanneld')).toBe(sha256Hex(bin));
    expect(await remoteSha256(c, '/missing')).toBeUndefined();
    expect(await remoteMatches(c, '/opt/flannel/bin/flanneld', bin)).toBe(true);
    expect(await remoteMatches(c, '/opt/flannel/bin/flanneld', Buffer.from('other'))).toBe(false);
  });

  it('records close', async () => {
    const c = fakeConnector();
    await c.close();
    expect(c.closed).toBe(true);
  });
});

describe('openPool', () => {
  const inv = {
    file: '/x/inventory.yaml',
    nodes: [{ name: 'n1', host: '10.0.0.1' }, { name: 'n2', host: '10.0.0.2' }, { name: 'n3', host: '10.0.0.3' }],
  } as unknown as Inventory;

  it('connects lazily, once per host, shares a pending connect and closes everything', async () => {
    const connected: string[] = [];
    const made = new Map<string, ReturnType<typeof fakeConnector>>();
    const pool = openPool(inv, {
      connect: async (n: NodeSpec) => {
        connected.push(n.name);
        const c = fakeConnector({ name: n.name });
        made.set(n.name, c);
        return c;
      },
    });
    expect(connected).toEqual([]);
    const [a, b] = await Promise.all([pool.get('n1'), pool.get('n1')]);
    expect(a).toBe(b);
    await pool.get('n2');
    expect(await pool.get('n1')).toBe(a);
    expect(connected).toEqual(['n1', 'n2']);
    await expect(pool.get('n9')).rejects.toThrow(/no node named "n9"/);
    await pool.closeAll();
    expect([...made.values()].map((c) => c.closed)).toEqual([true, true]);
  });

  it('turns connect failures into SshError naming node and host; typed errors pass through', async () => {
    const pool = openPool(inv, {
      connect: async (n: NodeSpec) => {
        if (n.name === 'n1') throw new Error('ECONNRESET');
        throw new HostKeyError(`${n.name}: unknown host key`);
      },
    });
    const e1 = await pool.get('n1').catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(SshError);
    expect((e1 as Error).message).toBe('n1 (10.0.0.1): ECONNRESET');
    await expect(pool.get('n2')).rejects.toBeInstanceOf(HostKeyError);
    await pool.closeAll();
  });
});

describe('sha256Hex', () => {
  it('hashes a Buffer once however often it is asked (one binary, many nodes), and agrees with a string', () => {
    const bin = Buffer.from('flanneld binary');
    const first = sha256Hex(bin);
    bin.write('X', 0); // not how steps use Buffers; shows the second call is served from the memo
    expect(sha256Hex(bin)).toBe(first);
    expect(sha256Hex(Buffer.from('flanneld binary'))).toBe(first);
    expect(sha256Hex('flanneld binary')).toBe(first);
  });
});
