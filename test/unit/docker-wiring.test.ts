/**
 * Docker wiring (issue 17 item 4): the docker.service drop-in passes `systemd-analyze verify` next to
 * a docker.service like docker-ce's (dockerd stubbed), and the daemon.json merge keeps foreign keys.
 */
import { spawnSync } from 'node:child_process';
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
