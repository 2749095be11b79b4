import { describe, expect, it } from 'vitest';
import { run } from '../../src/connector/connector.js';
import { fakeConnector } from '../../src/connector/fake.js';
import { remoteMatches, remoteSha256, sha256Hex } from '../../src/connector/sha256.js';
import { ExecError } from '../../src/errors.js';

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
