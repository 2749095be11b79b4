/**
 * Docker wiring (issue 17 item 4): the docker.service drop-in passes `systemd-analyze verify` next to
 * a docker.service like docker-ce's (dockerd stubbed), and the daemon.json merge keeps foreign keys.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseInventory } from '../../src/model/inventory.js';
import { mergeDaemonJson, renderDockerDropIn } from '../../src/model/docker.js';
import { dockerSteps } from '../../src/steps/docker.js';

const tmp = mkdtempSync(join(tmpdir(), 'flanctl-docker-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const inv = async (extra = '') =>
  (await parseInventory(`network:\n  cidr: 10.244.0.0/16\netcd:\n  endpoints: [https://10.77.0.1:2379]\nflannel:\n  tarball: f.tgz\n${extra}nodes:\n  - { name: node1, host: 10.77.0.11 }\n`, '/lab/inventory.yaml')).inventory;

function analyze(dropIn: string, name: string, dockerd: string) {
  const dir = join(tmp, name);
  mkdirSync(join(dir, 'docker.service.d'), { recursive: true });
  // docker-ce's unit, shortened; the drop-in must replace its ExecStart.
  writeFileSync(join(dir, 'docker.service'), `[Unit]\nDescription=Docker Application Container Engine\n[Service]\nType=notify\nExecStart=${dockerd} -H fd://\n[Install]\nWantedBy=multi-user.target\n`);
  writeFileSync(join(dir, 'docker.service.d', '10-flannel.conf'), dropIn);
  const r = spawnSync('systemd-analyze', ['verify', join(dir, 'docker.service')], { encoding: 'utf8' });
  return { code: r.status ?? -1, stderr: r.stderr.trim() };
}

describe('docker.service drop-in', () => {
  // systemd-analyze wants ExecStart's binary to exist; a dockerd under /tmp is refused by the inventory
  // (world-writable), so the analyzed drop-in runs /usr/bin/true in dockerd's place.
  const dockerd = '/usr/bin/true';

  it('reads /run/flannel/docker, passes $DOCKER_NETWORK_OPTIONS, orders after flanneld, and passes systemd-analyze verify', async () => {
    const text = renderDockerDropIn(await inv('docker:\n  integration: true\n'));
    expect(text).toContain('EnvironmentFile=-/run/flannel/docker');
    expect(text).toMatch(/^ExecStart=\n/m);
    expect(text).toContain('ExecStart=/usr/bin/dockerd $DOCKER_NETWORK_OPTIONS');
    expect(text).toContain('After=flanneld.service');
    const i = await inv(`docker:\n  integration: true\n  dockerd: ${dockerd}\n`);
    expect(analyze(renderDockerDropIn(i), 'ok', dockerd)).toEqual({ code: 0, stderr: '' });
  });
  it('the check catches a broken drop-in (control)', async () => {
    const i = await inv(`docker:\n  integration: true\n  dockerd: ${dockerd}\n`);
    expect(analyze(renderDockerDropIn(i).replace('EnvironmentFile=', 'EnvironmentFiles='), 'broken', dockerd).stderr).toMatch(/Unknown key/);
  });
  it('systemd gets the drop-in, supervisord the daemon.json merge, nothing without docker.integration', async () => {
    expect(dockerSteps(await inv()).beforeService).toEqual([]);
    expect(dockerSteps(await inv('docker:\n  integration: true\n')).beforeService.map((s) => s.id)).toEqual(['file:docker-dropin']);
    const sup = dockerSteps(await inv('  service: supervisord\ndocker:\n  integration: true\n'));
    expect(sup.beforeService).toEqual([]);
    expect(sup.afterLease.map((s) => s.id)).toEqual(['file:docker-daemon-json']);
  });
});

describe('daemon.json merge', () => {
  const env = { FLANNEL_SUBNET: '10.244.7.1/24', FLANNEL_MTU: '1450' };
  it('sets bip and mtu and keeps every other key', () => {
    const before = JSON.stringify({ 'log-driver': 'journald', 'registry-mirrors': ['https://m.example'], bip: '172.17.0.1/16', 'storage-driver': 'overlay2' });
    const after = JSON.parse(mergeDaemonJson(before, env)) as Record<string, unknown>;
    expect(after).toEqual({ 'log-driver': 'journald', 'registry-mirrors': ['https://m.example'], bip: '10.244.7.1/24', 'storage-driver': 'overlay2', mtu: 1450 });
  });
  it('starts from {} when there is no file', () => {
    expect(JSON.parse(mergeDaemonJson(undefined, env))).toEqual({ bip: '10.244.7.1/24', mtu: 1450 });
  });
  it('refuses a file that is not a JSON object', () => {
    expect(() => mergeDaemonJson('{ "bip": ', env)).toThrow(/not valid JSON/);
    expect(() => mergeDaemonJson('[1]', env)).toThrow(/not a JSON object/);
  });
});

describe('docker.service drop-in step on a node', () => {
  it('writes the drop-in, then daemon-reloads (else systemd keeps the old docker.service); nothing when it is current', async () => {
    const { fakeConnector } = await import('../../src/connector/fake.js');
    const { DOCKER_DROPIN_PATH } = await import('../../src/model/docker.js');
    const i = await inv('docker:\n  integration: true\n');
    const conn = fakeConnector({ name: 'node1' });
    conn.on(() => true, { code: 0, stdout: '' }); // df and friends: plenty of space
    conn.on((argv) => argv.includes('flanctl-stat'), (argv, _o, fake) => {
      const f = fake.files.get(argv.at(-1)!);
      return f ? { stdout: `644\n${createHash('sha256').update(f.content).digest('hex')}  x\n` } : { code: 1 };
    });
    conn.on(['systemctl', 'daemon-reload'], {});
    const step = dockerSteps(i).beforeService[0];
    const ctx = { inventory: i, node: i.nodes[0], conn, touched: new Set<string>() };
    const change = await step.check(ctx);
    expect(change?.action).toBe('create');
    await change!.apply();
    const order = conn.calls.flatMap((c) => (c.op === 'write' ? [`write ${c.path}`] : c.op === 'exec' && c.argv[0] === 'systemctl' ? [c.argv.join(' ')] : []));
    expect(order).toEqual([`write ${DOCKER_DROPIN_PATH}`, 'systemctl daemon-reload']);
    expect(await step.check(ctx)).toBeUndefined();
  });
});

describe('reset on systemd with docker.integration', () => {
  it('removes the docker.service drop-in before its daemon-reload (else systemd keeps it loaded)', async () => {
    const { fakeConnector } = await import('../../src/connector/fake.js');
    const { DOCKER_DROPIN_PATH } = await import('../../src/model/docker.js');
    const { systemdResetChange } = await import('../../src/reset/reset-systemd.js');
    const conn = fakeConnector({ name: 'node1', defaultExec: { code: 0, stdout: '' } });
    conn.on(['systemctl', 'is-active'], { code: 3, stdout: 'inactive\ninactive\ninactive\n' });
    const present = new Set([DOCKER_DROPIN_PATH]);
    const change = await systemdResetChange(conn, async (paths) => new Map(paths.filter((p) => present.has(p)).map((p) => [p, 'file'])), [DOCKER_DROPIN_PATH]);
    expect(change?.summary).toContain(DOCKER_DROPIN_PATH);
    await change!.apply();
    const execs = conn.execs().map((a) => a.join(' '));
    const rm = execs.findIndex((e) => e.startsWith('rm -rf') && e.includes(DOCKER_DROPIN_PATH));
    expect(rm).toBeGreaterThanOrEqual(0);
    expect(execs.indexOf('systemctl daemon-reload')).toBeGreaterThan(rm);
    // Without docker.integration the drop-in path is none of reset's business.
    expect(await systemdResetChange(conn, async (paths) => new Map(paths.filter((p) => present.has(p)).map((p) => [p, 'file'])))).toBeUndefined();
  });
});
