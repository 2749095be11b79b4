/**
 * systemd mode pieces that need no node: the iptables guard units (snapshot + systemd-analyze
 * verify), crash-loop detection, the kernel-module capability probe, reset's unit paths, and the
 * systemd-nspawn launcher's argument building.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Connector, ExecResult } from '../../src/connector/connector.js';
import { launcherArgv, nodeUuid, nspawnArgs, NSPAWN_LAUNCH } from '../../src/lab/nspawn.js';
import { parseInventory } from '../../src/model/inventory.js';
import { renderGuardUnit } from '../../src/model/templates.js';
import { systemdResetPaths } from '../../src/reset/reset-systemd.js';
import { CrashWatch, hasPanic } from '../../src/steps/crash-watch.js';
import { capabilityProbeArgv } from '../../src/steps/modules.js';

const inventory = async (service: 'systemd' | 'supervisord', installDir = '/opt/flannel/bin') =>
  (await parseInventory(`network:\n  cidr: 10.244.0.0/16\netcd:\n  endpoints: [https://10.77.0.1:2379]\nflannel:\n  tarball: f.tar.gz\n  installDir: ${installDir}\n  service: ${service}\nnodes:\n  - { name: node1, host: 10.77.0.11 }\n`, '/lab/inventory.yaml')).inventory;

const tmp = mkdtempSync(join(tmpdir(), 'flanctl-systemd-mode-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('iptables guard units', () => {
  it('render (snapshot): oneshot after flanneld and docker, a timer with the watcher interval', async () => {
    const inv = await inventory('systemd');
    const service = renderGuardUnit(inv, 'service');
    const timer = renderGuardUnit(inv, 'timer');
    expect(service).toMatch(/^After=.*flanneld\.service.*docker\.service/m);
    expect(service).toMatch(/^ExecStart=-\/opt\/flannel\/bin\/flanctl-iptables\.sh$/m);
    expect(timer).toMatch(/^OnUnitActiveSec=30s$/m);
    expect({ service, timer }).toMatchSnapshot();
  });

  it('systemd-analyze verify accepts both (and rejects a typo: control)', async () => {
    const bin = join(tmp, 'bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'flanctl-iptables.sh'), '#!/bin/sh\nexit 0\n');
    chmodSync(join(bin, 'flanctl-iptables.sh'), 0o755);
    // ExecStart must exist for systemd-analyze: point the rendered path at an executable temp file.
    const inv = await inventory('systemd');
    const service = renderGuardUnit(inv, 'service').replace('/opt/flannel/bin/', `${bin}/`);
    expect(service).toContain(`ExecStart=-${bin}/flanctl-iptables.sh`);
    const verify = (timerText: string) => {
      const d = mkdtempSync(join(tmp, 'units-'));
      writeFileSync(join(d, 'flanctl-iptables.service'), service);
      writeFileSync(join(d, 'flanctl-iptables.timer'), timerText);
      const r = spawnSync('systemd-analyze', ['verify', join(d, 'flanctl-iptables.service'), join(d, 'flanctl-iptables.timer')], { encoding: 'utf8' });
      return { code: r.status, stderr: r.stderr.trim() };
    };
    expect(verify(renderGuardUnit(inv, 'timer'))).toEqual({ code: 0, stderr: '' });
    expect(verify(renderGuardUnit(inv, 'timer').replace('OnUnitActiveSec', 'OnUnitActivSec')).stderr).toMatch(/Unknown key/);
  });
});

/** A connector answering from a list of scripted results per command word. */
function scripted(answers: Record<string, string[]>): Connector & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    name: 'node1',
    calls,
    async exec(argv: string[]): Promise<ExecResult> {
      calls.push(argv);
      const queue = answers[argv[3] === 'flanctl-supervisor-status' ? 'supervisorctl' : argv[0]] ?? [];
      const stdout = queue.length > 1 ? (queue.shift() as string) : (queue[0] ?? '');
      return { code: 0, stdout, stderr: '' };
    },
    read: async () => undefined,
    write: async () => {},
  } as unknown as Connector & { calls: string[][] };
}

describe('CrashWatch', () => {
  const show = (n: number, sub = 'running', active = 'activating') => `NRestarts=${n}\nSubState=${sub}\nActiveState=${active}\n`;

  it('systemd: two automatic restarts since the wait began make a crash loop', async () => {
    const conn = scripted({ systemctl: [show(3), show(3, 'auto-restart'), show(4), show(5)] });
    const w = new CrashWatch(await inventory('systemd'), conn, async () => 'no panic here');
    expect(await w.check()).toBeUndefined();
    expect(await w.check()).toBeUndefined();
    expect(await w.check()).toBeUndefined();
    expect(await w.check()).toMatch(/exited 2 times .*NRestarts=5/);
  });

  it('systemd: a counter reset by an explicit restart is not a crash; one exit with a panic is', async () => {
    const conn = scripted({ systemctl: [show(7), show(0), show(1, 'auto-restart')] });
    const w = new CrashWatch(await inventory('systemd'), conn, async () => 'I1130 start\npanic: listen tcp :2401: bind: address already in use\n\ngoroutine 1 [running]:');
    expect(await w.check()).toBeUndefined();
    expect(await w.check()).toBeUndefined();
    expect(await w.check()).toBe('flanneld exited with a panic while starting');
  });

  it('supervisord: BACKOFF twice (with a start in between) or FATAL', async () => {
    const st = (s: string) => `flanneld                         ${s}   Exited too quickly (process log may have details)\n`;
    const conn = scripted({ supervisorctl: [st('BACKOFF'), st('BACKOFF'), st('STARTING'), st('BACKOFF')] });
    const w = new CrashWatch(await inventory('supervisord'), conn, async () => '');
    expect(await w.check()).toBeUndefined();
    expect(await w.check()).toBeUndefined(); // still the same BACKOFF episode
    expect(await w.check()).toBeUndefined();
    expect(await w.check()).toMatch(/exited 2 times .*BACKOFF/);
    const fatal = new CrashWatch(await inventory('supervisord'), scripted({ supervisorctl: [st('FATAL')] }), async () => '');
    expect(await fatal.check()).toMatch(/FATAL/);
  });

  it('hasPanic recognises Go panics only', () => {
    expect(hasPanic('panic: runtime error\ngoroutine 1 [running]:')).toBe(true);
    expect(hasPanic('E1130 failed to acquire lease: subnet already exists')).toBe(false);
  });
});

describe('kernel module capability probe', () => {
  it('creates and deletes a throwaway device of the backend type with a unique name', () => {
    const argv = capabilityProbeArgv('vxlan', '0a1b2c3d')!;
    expect(argv.slice(0, 2)).toEqual(['sh', '-c']);
    expect(argv[2]).toBe('ip link add "$0" "$@" || exit 1; ip link del "$0"');
    expect(argv[3]).toBe('flpf0a1b2c3d');
    expect(argv[3].length).toBeLessThanOrEqual(15);
    expect(argv.slice(4, 7)).toEqual(['type', 'vxlan', 'id']);
    expect(capabilityProbeArgv('vxlan')![3]).not.toBe(capabilityProbeArgv('vxlan')![3]);
    expect(capabilityProbeArgv('ipip', 'ffffffff')!.slice(3)).toEqual(['flpfffffffff', 'type', 'ipip']);
    expect(capabilityProbeArgv('br_netfilter')).toBeUndefined();
  });
});

describe('reset on systemd', () => {
  it('covers the units, their drop-in dirs and every enablement symlink', () => {
    const p = systemdResetPaths();
    for (const want of [
      '/etc/systemd/system/flanneld.service', '/etc/systemd/system/flanctl-iptables.timer', '/etc/systemd/system/flanneld.service.d',
      '/etc/systemd/system/multi-user.target.wants/flanneld.service', '/etc/systemd/system/docker.service.requires/flanneld.service',
      '/etc/systemd/system/timers.target.wants/flanctl-iptables.timer',
    ]) expect(p).toContain(want);
  });
});

describe('systemd-nspawn launcher arguments', () => {
  const spec = { machine: 'flanlab-4-node1', hostname: 'node1', root: '/lab/nodes/node1/root', uuid: nodeUuid('/lab', 'node1'), netns: 'flanlab-4-node1' };

  it('boots without a system bus, in the lab netns, with CAP_NET_ADMIN and a writable /proc/sys/net', () => {
    const a = nspawnArgs({ ...spec, bindRo: ['/usr/local/bin/node:/usr/bin/node'] });
    expect(a.slice(0, 3)).toEqual(['env', 'SYSTEMD_NSPAWN_API_VFS_WRITABLE=network', 'systemd-nspawn']);
    for (const f of ['--boot', '--register=no', '--keep-unit', '--capability=CAP_NET_ADMIN', '--network-namespace-path=/run/netns/flanlab-4-node1',
      '--directory=/lab/nodes/node1/root', '--machine=flanlab-4-node1', '--hostname=node1', `--uuid=${spec.uuid}`, '--bind-ro=/usr/local/bin/node:/usr/bin/node']) {
      expect(a).toContain(f);
    }
    expect(a.some((x) => x.startsWith('--network-bridge'))).toBe(false);
  });

  it('a stable, distinct, well-formed machine id per node', () => {
    expect(nodeUuid('/lab', 'node1')).toBe(spec.uuid);
    expect(nodeUuid('/lab', 'node2')).not.toBe(spec.uuid);
    expect(spec.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('refuses names that could smuggle options', () => {
    expect(() => nspawnArgs({ ...spec, hostname: '--boot' })).toThrow(/hostname/);
    expect(() => nspawnArgs({ ...spec, netns: 'a b' })).toThrow(/netns/);
  });

  it('the launcher runs in its own mount namespace and gets cgroup, rootfs and node dir before the nspawn argv', () => {
    const argv = launcherArgv('flanlab-4-node1', '/var/cache/rootfs', '/lab/nodes/node1', ['systemd-nspawn', '--boot']);
    expect(argv).toEqual(['unshare', '--mount', '--propagation', 'private', '/bin/bash', NSPAWN_LAUNCH, 'flanlab-4-node1', '/var/cache/rootfs', '/lab/nodes/node1', '--', 'systemd-nspawn', '--boot']);
  });
});
