/**
 * The stand-in's emulated releases (lab/flanneld-standin/README.md "Emulated releases"): traits per
 * version, lease JSON, iptables layout and flags per release, v0.20.2's watch bug (which events a watch
 * response loses), the settings file, sd_notify, and the built binaries' -version and SIGTERM exit status.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { parseFlags } from '../../lab/flanneld-standin/src/flags.js';
import { parseNet4, type Net4 } from '../../lab/flanneld-standin/src/ip4.js';
import { forwardRules, masqRules } from '../../lab/flanneld-standin/src/iptables.js';
import { leaseKeyOf, leaseValue, type PeerLease } from '../../lab/flanneld-standin/src/lease-format.js';
import type { Logger } from '../../lab/flanneld-standin/src/log.js';
import { notifyReady } from '../../lab/flanneld-standin/src/notify.js';
import type { Registry } from '../../lab/flanneld-standin/src/registry.js';
import { parseEnvLines, standinSettings, watchBugEnabled } from '../../lab/flanneld-standin/src/standin-env.js';
import { defaultEtcdApi, EMULATED_RELEASES, flavourOf, hasWatchBug, sigtermExitStatus } from '../../lab/flanneld-standin/src/version.js';
import { firstEventOnly, leaseEvents, watchLeases } from '../../lab/flanneld-standin/src/watch.js';
import { chooseTarball, etcdApiOf, STANDIN_RELEASES, tarballVersion } from '../../src/lab/standin.js';
import { repoRoot } from '../helpers/cli.js';

const net = (s: string) => parseNet4(s) as Net4;
const quiet: Logger = { info() {}, warn() {}, error() {} };
const PREFIX = '/coreos.com/network';
const lease = (subnet: string, ip: string, mac: string, revision?: number): PeerLease => ({
  key: leaseKeyOf(PREFIX, net(subnet)), subnet: net(subnet), publicIp: ip, backendType: 'vxlan', vni: 1, vtepMac: mac, ...(revision ? { revision } : {}),
});
const value = (l: PeerLease) => leaseValue('v0.20', { publicIp: l.publicIp, backendType: 'vxlan', vxlan: { vni: 1, vtepMac: l.vtepMac! } });

describe('emulated releases: traits', () => {
  it('v0.11.0: etcd v2, v0.11 flavour, no watch bug, exit 0 on SIGTERM', () => {
    expect([defaultEtcdApi('v0.11.0'), flavourOf('v0.11.0'), hasWatchBug('v0.11.0'), sigtermExitStatus('v0.11.0')]).toEqual(['v2', 'v0.11', false, 0]);
  });
  it('v0.20.2: etcd v3, FLANNEL-* chains, the watch bug, exit 2 on SIGTERM', () => {
    expect([defaultEtcdApi('v0.20.2'), flavourOf('v0.20.2'), hasWatchBug('v0.20.2'), sigtermExitStatus('v0.20.2')]).toEqual(['v3', 'v0.20', true, 2]);
  });
  it('v0.22.3: etcd v3, v0.22 flavour, watch bug fixed (since v0.21.3), exit 0', () => {
    expect([defaultEtcdApi('v0.22.3'), flavourOf('v0.22.3'), hasWatchBug('v0.22.3'), sigtermExitStatus('v0.22.3')]).toEqual(['v3', 'v0.22', false, 0]);
    expect(hasWatchBug('v0.21.2')).toBe(true);
    expect(hasWatchBug('v0.21.3')).toBe(false);
    expect(hasWatchBug('v0.17.0')).toBe(false);
  });
  it('the lab knows the same three releases as the stand-in build', () => {
    expect([...STANDIN_RELEASES]).toEqual([...EMULATED_RELEASES]);
  });
});

describe('emulated releases: lease JSON, iptables, flags', () => {
  const attrs = { publicIp: '10.78.0.2', backendType: 'vxlan', vxlan: { vni: 1, vtepMac: 'b6:80:ae:fb:63:cb' } };
  it('v0.22.3 writes the same lease JSON as v0.20.2 (BackendV6Data omitted); v0.11.0 has no VNI, no PublicIPv6', () => {
    const v20 = '{"PublicIP":"10.78.0.2","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"b6:80:ae:fb:63:cb"}}';
    expect(leaseValue(flavourOf('v0.20.2'), attrs)).toBe(v20);
    expect(leaseValue(flavourOf('v0.22.3'), attrs)).toBe(v20);
    expect(leaseValue(flavourOf('v0.11.0'), attrs)).toBe('{"PublicIP":"10.78.0.2","BackendType":"vxlan","BackendData":{"VtepMAC":"b6:80:ae:fb:63:cb"}}');
  });

  it('v0.22.3 appends its jumps and returns per pod subnet (pkg/iptables MasqRules at v0.22.3)', () => {
    const m = masqRules('v0.22', net('10.244.0.0/16'), net('10.244.40.0/24'));
    const c = ['-m', 'comment', '--comment', 'flanneld masq'];
    expect(m.appendJumps).toBe(true);
    expect(m.jumps.map((r) => `${r.chain} ${r.spec.join(' ')}`)).toEqual([`POSTROUTING ${[...c, '-j', 'FLANNEL-POSTRTG'].join(' ')}`]);
    expect(m.rules.map((r) => r.spec.join(' ').replace(` ${c.join(' ')}`, ''))).toEqual([
      '-m mark --mark 0x4000/0x4000 -j RETURN',
      '-s 10.244.40.0/24 -d 10.244.0.0/16 -j RETURN',
      '-s 10.244.0.0/16 -d 10.244.40.0/24 -j RETURN',
      '! -s 10.244.0.0/16 -d 10.244.40.0/24 -j RETURN',
      '-s 10.244.0.0/16 ! -d 224.0.0.0/4 -j MASQUERADE --random-fully',
      '! -s 10.244.0.0/16 -d 10.244.0.0/16 -j MASQUERADE --random-fully',
    ]);
    expect(forwardRules('v0.22', net('10.244.0.0/16')).appendJumps).toBe(true);
    expect(masqRules('v0.20', net('10.244.0.0/16'), net('10.244.40.0/24')).appendJumps).toBeFalsy();
  });

  it('-use-multi-cluster-cidr exists only from v0.22', () => {
    expect(parseFlags(['-use-multi-cluster-cidr'], {}, 'v0.22').warnings).toEqual([]);
    expect(parseFlags(['-use-multi-cluster-cidr'], {}, 'v0.20').warnings).toHaveLength(1);
  });
});

describe('v0.20.2 watch bug: one event per watch response', () => {
  const a = lease('10.244.1.0/24', '10.77.0.2', '02:00:00:00:00:a1', 10);
  const b = lease('10.244.2.0/24', '10.77.0.3', '02:00:00:00:00:b1', 11);
  const c = lease('10.244.3.0/24', '10.77.0.4', '02:00:00:00:00:c1', 12);

  it('leaseEvents orders changes by revision, removals last, and ignores a renewal with the same value', () => {
    const known = new Map([a, b, c].map((l) => [l.key, l]));
    const b2 = { ...b, vtepMac: '02:00:00:00:00:b2', revision: 21 };
    const a2 = { ...a, vtepMac: '02:00:00:00:00:a2', revision: 20 };
    const aRenewed = { ...a, revision: 30 };
    expect(leaseEvents(known, [b2, a2]).map((e) => `${e.type} ${e.lease.vtepMac}`)).toEqual([
      'added 02:00:00:00:00:a2', 'added 02:00:00:00:00:b2', 'removed 02:00:00:00:00:c1',
    ]);
    expect(leaseEvents(known, [aRenewed, b, c])).toEqual([]);
  });

  it('firstEventOnly keeps the first event and drops the rest; our own first event is ignored too', () => {
    const ev = (l: PeerLease) => ({ type: 'added' as const, lease: l });
    expect(firstEventOnly([ev(b), ev(c)], a.key)).toEqual({ handled: [ev(b)], dropped: [ev(c)] });
    expect(firstEventOnly([ev(a), ev(b), ev(c)], a.key)).toEqual({ handled: [], dropped: [ev(b), ev(c)] });
    expect(firstEventOnly([], a.key)).toEqual({ handled: [], dropped: [] });
  });

  /** A memory registry whose list() reports revisions; `put` bumps the revision. */
  function registry(initial: PeerLease[]): Registry & { put(l: PeerLease): void } {
    const data = new Map<string, { value: string; revision: number }>();
    let rev = 100;
    const put = (l: PeerLease) => data.set(l.key, { value: value(l), revision: ++rev });
    initial.forEach(put);
    return {
      api: 'v3', put,
      async get(k) { return data.get(k)?.value; },
      async list(dir) { return [...data].filter(([k]) => k.startsWith(dir + '/')).map(([key, v]) => ({ key, ...v })); },
      async create() { return true; },
      async renew() {},
      async delete(k) { data.delete(k); },
    };
  }

  /** Three nodes restart together after flannel.1 was recreated: node A listed before anyone rewrote. */
  async function simultaneousRestart(watchBug: boolean) {
    const reg = registry([a, b, c]);
    const snapshot = await Promise.all([a, b, c].map(async (l) => l)); // what A listed before writing its lease
    const a2 = { ...a, vtepMac: '02:00:00:00:00:a2' };
    const b2 = { ...b, vtepMac: '02:00:00:00:00:b2' };
    const c2 = { ...c, vtepMac: '02:00:00:00:00:c2' };
    reg.put(a2);
    reg.put(b2);
    reg.put(c2);
    const programmed = new Map<string, string>();
    const stop = watchLeases(reg, { prefix: PREFIX, ownKey: a.key, pollMs: 5, log: quiet, watchBug, snapshot }, {
      onAdd: async (l) => void programmed.set(l.publicIp, l.vtepMac!),
      onRemove: async (l) => void programmed.delete(l.publicIp),
      onRevoked: () => {},
    });
    await vi.waitFor(() => expect(programmed.size).toBe(2));
    await new Promise((r) => setTimeout(r, 30)); // a few more polls: nothing else arrives
    stop();
    return Object.fromEntries(programmed);
  }

  it('with the bug, the first node keeps the old VtepMACs of both peers (its own event takes the response)', async () => {
    expect(await simultaneousRestart(true)).toEqual({ '10.77.0.3': '02:00:00:00:00:b1', '10.77.0.4': '02:00:00:00:00:c1' });
  });

  it('without it (v0.22.3, or the bug switched off), it learns both new VtepMACs', async () => {
    expect(await simultaneousRestart(false)).toEqual({ '10.77.0.3': '02:00:00:00:00:b2', '10.77.0.4': '02:00:00:00:00:c2' });
  });

  it('with the bug, events one poll apart are both handled (only events arriving together are lost)', async () => {
    const reg = registry([a, b, c]);
    const seen: string[] = [];
    const stop = watchLeases(reg, { prefix: PREFIX, ownKey: a.key, pollMs: 20, log: quiet, watchBug: true, snapshot: [a, b, c] }, {
      onAdd: async (l) => void seen.push(l.vtepMac!),
      onRemove: async () => {},
      onRevoked: () => {},
    });
    await vi.waitFor(() => expect(seen).toHaveLength(2));
    reg.put({ ...b, vtepMac: '02:00:00:00:00:b3' });
    await vi.waitFor(() => expect(seen).toContain('02:00:00:00:00:b3'));
    reg.put({ ...c, vtepMac: '02:00:00:00:00:c3' });
    await vi.waitFor(() => expect(seen).toContain('02:00:00:00:00:c3'));
    stop();
  });
});

describe('stand-in settings and sd_notify', () => {
  it('reads FLANNELD_STANDIN_* from the settings file; the environment wins', () => {
    const dir = mkdtempSync(join(tmpdir(), 'standin-env-'));
    const file = join(dir, 'flanneld-standin.env');
    writeFileSync(file, '# comment\nFLANNELD_STANDIN_WATCH_BUG=on\nFLANNELD_STANDIN_POLL_MS="250"\nOTHER=x\n');
    expect(parseEnvLines('A=1\n# x\nB="2"\n')).toEqual({ A: '1', B: '2' });
    expect(standinSettings({ FLANNELD_STANDIN_ENV_FILE: file })).toEqual({ FLANNELD_STANDIN_WATCH_BUG: 'on', FLANNELD_STANDIN_POLL_MS: '250', FLANNELD_STANDIN_ENV_FILE: file });
    expect(standinSettings({ FLANNELD_STANDIN_ENV_FILE: file, FLANNELD_STANDIN_WATCH_BUG: 'off' }).FLANNELD_STANDIN_WATCH_BUG).toBe('off');
  });

  it('the watch bug fires only in a release that has it and only when switched on (default off)', () => {
    expect(watchBugEnabled(true, 'on')).toBe(true);
    expect(watchBugEnabled(true, undefined)).toBe(false);
    expect(watchBugEnabled(true, 'off')).toBe(false);
    expect(watchBugEnabled(false, 'on')).toBe(false);
  });

  it('sends READY=1 through systemd-notify only under NOTIFY_SOCKET, and reports a failure', async () => {
    const calls: string[][] = [];
    const ok = async (argv: string[]) => (calls.push(argv), { code: 0, stderr: '' });
    expect(await notifyReady({}, ok)).toBeUndefined();
    expect(calls).toEqual([]);
    expect(await notifyReady({ NOTIFY_SOCKET: '/run/systemd/notify' }, ok)).toBeUndefined();
    expect(calls).toEqual([['systemd-notify', '--ready', '--no-block']]);
    const bad = async () => ({ code: 1, stderr: 'No such file or directory' });
    expect(await notifyReady({ NOTIFY_SOCKET: '/nope' }, bad)).toBe('Failed to notify systemd the message READY=1 No such file or directory');
  });
});

describe('lab: release → tarball and etcd API', () => {
  it('picks the stand-in tarball of a release, refuses unknown releases and both flags together', () => {
    expect(chooseTarball({ release: 'v0.22.3', resolvePath: (p) => p })).toMatch(/lab\/dist\/flannel-v0\.22\.3-standin-linux-amd64\.tar\.gz$/);
    expect(chooseTarball({ resolvePath: (p) => p })).toMatch(/flannel-v0\.20\.2-standin-linux-amd64\.tar\.gz$/);
    expect(() => chooseTarball({ release: 'v0.21.0', resolvePath: (p) => p })).toThrow(/--release v0.21.0: the stand-in emulates v0.11.0, v0.20.2, v0.22.3/);
    expect(() => chooseTarball({ release: 'v0.11.0', flannelTarball: 'x.tgz', resolvePath: (p) => p })).toThrow(/exclude each other/);
    expect(() => chooseTarball({ flannelTarball: '/nonexistent/flannel-v0.22.3-linux-amd64.tar.gz', resolvePath: (p) => p })).toThrow(/not found/);
  });

  it('the inventory API follows the version in the tarball name (real or stand-in)', () => {
    expect(etcdApiOf(tarballVersion('/x/flannel-v0.11.0-linux-amd64.tar.gz'))).toBe('v2');
    expect(etcdApiOf(tarballVersion('/x/flannel-v0.11.0-standin-linux-amd64.tar.gz'))).toBe('v2');
    expect(etcdApiOf(tarballVersion('/x/flannel-v0.20.2-linux-amd64.tar.gz'))).toBe('v3');
    expect(etcdApiOf(tarballVersion('/x/my-flannel.tgz'))).toBe('v3');
  });
});

/** Runs a built stand-in; resolves with its exit status and stderr. */
function runBuilt(release: string, args: string[], sigtermAfter?: RegExp): Promise<{ code: number | null; stderr: string }> {
  const bin = join(repoRoot, 'lab', 'dist', `flannel-${release}-standin-linux-amd64`, 'flanneld');
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run \`npm run build\` first`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env.PATH, FLANNELD_STANDIN_ENV_FILE: '/nonexistent' } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (sigtermAfter?.test(stderr) && !child.killed) child.kill('SIGTERM');
    });
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('built stand-ins', () => {
  it.each(EMULATED_RELEASES)('%s prints its release on the first line of stderr for -version', async (release) => {
    const r = await runBuilt(release, ['-version']);
    expect(r.code).toBe(0);
    expect(r.stderr.split('\n')[0]).toBe(release);
    expect(r.stderr).toContain('TEST EQUIPMENT');
  });

  it.each(EMULATED_RELEASES)('%s answers a lone -version from sh without starting node (a real flanneld answers in ms), and the same text node prints', async (release) => {
    const bin = join(repoRoot, 'lab', 'dist', `flannel-${release}-standin-linux-amd64`, 'flanneld');
    const noNode = { ...process.env, PATH: '/nonexistent' };
    const fast = spawnSync(bin, ['-version'], { env: noNode, encoding: 'utf8' });
    expect(fast.status, fast.stderr).toBe(0);
    expect(fast.stderr).toBe((await runBuilt(release, ['-version=true'])).stderr); // node's own answer
    expect(spawnSync(bin, ['-help'], { env: noNode, encoding: 'utf8' }).status).toBe(127); // anything else is node's
  });

  it.each(EMULATED_RELEASES)('%s exits with its release\'s status on SIGTERM', async (release) => {
    // An unreachable etcd: the stand-in loops waiting for the config until the signal.
    const r = await runBuilt(release, ['-etcd-endpoints=http://127.0.0.1:9', '-iface=127.0.0.1'], /Couldn't fetch network config/);
    expect(r.code, r.stderr).toBe(sigtermExitStatus(release));
    if (release === 'v0.20.2') expect(r.stderr).toContain('panic: runtime error: index out of range [0] with length 0');
    else expect(r.stderr).toContain('Exiting cleanly...');
  });
});
