/**
 * Docker wiring under a real systemd (issue 17 item 4; root, must run under CI=true): on one
 * `lab up --init systemd` node with a docker.service shaped like docker-ce's (its dockerd a stand-in,
 * lab test equipment, that records its arguments), `docker.integration: true` makes bootstrap install
 * the drop-in, and systemd itself shows it loaded: the drop-in path, EnvironmentFile=-/run/flannel/docker,
 * the replaced ExecStart with $DOCKER_NETWORK_OPTIONS, After=flanneld.service; dockerd then starts with
 * mk-docker-opts.sh's --bip/--mtu from the node's lease, also at boot after a reboot (ordered after
 * flanneld). Reset removes the drop-in and systemd forgets it. The unit test checks the drop-in with
 * `systemd-analyze verify` offline; this one proves a booted systemd applies it.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startLab, type TestLab } from '../helpers/lab.js';
import { describeRoot } from '../helpers/root.js';
import { cli, showCli as show } from '../helpers/cli.js';
import { podsHelpers } from '../helpers/pods.js';

const DOCKERD = '/usr/local/bin/dockerd';
/** dockerd stand-in (lab test equipment): records how systemd started it, then stays up. */
const FAKE_DOCKERD = `#!/bin/sh
# dockerd stand-in (flanctl lab test equipment): records the arguments systemd started it with.
printf '%s\\n' "$@" > /run/dockerd-standin.args
exec sleep infinity
`;
/** docker-ce's docker.service, shortened (its ExecStart is what the drop-in must replace). */
const DOCKER_UNIT = `[Unit]
Description=Docker Application Container Engine (lab stand-in)
After=network-online.target
Wants=network-online.target
[Service]
Type=simple
ExecStart=${DOCKERD} -H fd:// --containerd=/run/containerd/containerd.sock
[Install]
WantedBy=multi-user.target
`;

describeRoot('docker.integration on a systemd lab node: the drop-in is loaded by systemd and dockerd gets the flannel options', () => {
  let lab: TestLab;
  let pods: ReturnType<typeof podsHelpers>;
  const show1 = async (prop: string) => (await lab.exec('node1', ['systemctl', 'show', 'docker.service', '-p', prop, '--value'])).stdout.trim();
  /** dockerd's recorded arguments, once it has started (the file is removed before a restart). */
  const dockerdArgs = async () => {
    for (let i = 0; i < 100; i++) {
      const r = await lab.exec('node1', ['cat', '/run/dockerd-standin.args']);
      if (r.code === 0 && r.stdout.trim()) return r.stdout.trim().split('\n');
      await new Promise((res) => setTimeout(res, 200));
    }
    throw new Error('dockerd stand-in never started');
  };

  beforeAll(async () => {
    lab = await startLab({ nodes: 1, init: 'systemd' });
    pods = podsHelpers(lab, ['node1']);
    const put = async (path: string, text: string, mode: string) => {
      const r = await lab.exec('node1', ['sh', '-c', `mkdir -p "$(dirname "$1")" && cat > "$1" && chmod ${mode} "$1"`, 'sh', path], { input: text });
      expect(r.code, r.stderr).toBe(0);
    };
    await put(DOCKERD, FAKE_DOCKERD, '755');
    await put('/lib/systemd/system/docker.service', DOCKER_UNIT, '644');
    await pods.sh('node1', 'systemctl daemon-reload && systemctl enable docker.service 2>/dev/null');
    pods.editInventory((d) => { d.docker = { integration: true, dockerd: DOCKERD }; });
    const certs = await cli(['certs', 'generate', '-i', pods.inv]);
    expect(certs.code, show(certs)).toBe(0);
  }, 600_000);

  afterAll(async () => {
    await lab?.down();
  }, 120_000);

  it('bootstrap installs the drop-in; systemctl show docker.service has its EnvironmentFile, ExecStart and ordering', async () => {
    expect(await show1('ExecStart')).not.toContain('DOCKER_NETWORK_OPTIONS'); // control: the package's unit alone
    const boot = await cli(['bootstrap', '-i', pods.inv, '--trust-new-hosts', '--no-verify']);
    expect(boot.code, show(boot)).toBe(0);
    expect(await show1('DropInPaths')).toContain('/etc/systemd/system/docker.service.d/10-flannel.conf');
    expect(await show1('NeedDaemonReload')).toBe('no');
    expect(await show1('EnvironmentFiles')).toMatch(/^\/run\/flannel\/docker \(ignore_errors=yes\)$/m);
    const exec = await show1('ExecStart');
    // One ExecStart: the drop-in's empty ExecStart= cleared the package's.
    expect(exec.match(/path=/g)).toHaveLength(1);
    expect(exec).toContain(`argv[]=${DOCKERD} $DOCKER_NETWORK_OPTIONS -H fd://`);
    expect((await show1('After')).split(' ')).toContain('flanneld.service');
    expect((await show1('Wants')).split(' ')).toContain('flanneld.service');
    const analyze = await lab.exec('node1', ['systemd-analyze', 'verify', '/lib/systemd/system/docker.service']);
    expect(analyze.code, analyze.stderr).toBe(0);
  }, 300_000);

  it('a change to the drop-in alone (docker.dockerd) reaches systemd: no daemon-reload left to the operator', async () => {
    await pods.sh('node1', `cp ${DOCKERD} ${DOCKERD}-2`);
    pods.editInventory((d) => { d.docker.dockerd = `${DOCKERD}-2`; });
    const boot = await cli(['bootstrap', '-i', pods.inv, '--no-verify', '--json']);
    expect(boot.code, show(boot)).toBe(0);
    expect(JSON.stringify(boot.json)).toContain('file:docker-dropin');
    expect(await show1('NeedDaemonReload')).toBe('no');
    expect(await show1('ExecStart')).toContain(`argv[]=${DOCKERD}-2 $DOCKER_NETWORK_OPTIONS`);
    pods.editInventory((d) => { d.docker.dockerd = DOCKERD; });
    const back = await cli(['bootstrap', '-i', pods.inv, '--no-verify']);
    expect(back.code, show(back)).toBe(0);
    expect(await show1('ExecStart')).toContain(`argv[]=${DOCKERD} $DOCKER_NETWORK_OPTIONS`);
  }, 300_000);

  it('dockerd starts with mk-docker-opts.sh options from the lease (--bip = FLANNEL_SUBNET, --mtu = FLANNEL_MTU), also at boot', async () => {
    const env = await pods.sh('node1', 'cat /run/flannel/subnet.env');
    const subnet = /FLANNEL_SUBNET=(\S+)/.exec(env)![1];
    const mtu = /FLANNEL_MTU=(\d+)/.exec(env)![1];
    expect(await pods.sh('node1', 'cat /run/flannel/docker')).toMatch(/^DOCKER_NETWORK_OPTIONS=/m);

    await pods.sh('node1', 'rm -f /run/dockerd-standin.args && systemctl restart docker.service');
    const args = await dockerdArgs();
    expect(args).toEqual(expect.arrayContaining([`--bip=${subnet}`, `--mtu=${mtu}`, '-H', 'fd://']));
    expect(await show1('ActiveState')).toBe('active');

    // At boot: docker.service is enabled; systemd orders it after flanneld, whose ExecStartPost wrote the options.
    // lab.exec throws while the node is down: that counts as "not back yet".
    const inNode = async (argv: string[]) => (await lab.exec('node1', argv).catch(() => ({ stdout: '' }))).stdout.trim();
    const bootId = () => inNode(['cat', '/proc/sys/kernel/random/boot_id']);
    const before = await bootId();
    await lab.exec('node1', ['systemctl', 'reboot']).catch(() => undefined);
    let state = '';
    for (let i = 0; i < 300 && state !== 'running'; i++) {
      await new Promise((res) => setTimeout(res, 300));
      const id = await bootId();
      state = id && id !== before ? await inNode(['systemctl', 'is-system-running']) : '';
    }
    expect(state, 'node1 booted again').toBe('running');
    const boot = await dockerdArgs();
    expect(boot).toEqual(expect.arrayContaining([`--bip=${subnet}`, `--mtu=${mtu}`]));
    // dockerd started only once flanneld was active (READY=1 and its ExecStartPost, mk-docker-opts.sh, done).
    const when = async (unit: string, prop: string) => Number((await lab.exec('node1', ['systemctl', 'show', unit, '-p', prop, '--value'])).stdout.trim());
    const flanneldActive = await when('flanneld.service', 'ActiveEnterTimestampMonotonic');
    expect(flanneldActive).toBeGreaterThan(0);
    expect(await when('docker.service', 'ExecMainStartTimestampMonotonic')).toBeGreaterThanOrEqual(flanneldActive);
  }, 300_000);

  it('reset removes the drop-in and systemd forgets it; the package unit is left alone', async () => {
    const reset = await cli(['reset', '-i', pods.inv, '--yes']);
    expect(reset.code, show(reset)).toBe(0);
    expect(await show1('DropInPaths')).toBe('');
    expect(await show1('NeedDaemonReload')).toBe('no');
    expect(await show1('ExecStart')).not.toContain('DOCKER_NETWORK_OPTIONS');
    expect((await lab.exec('node1', ['test', '-f', '/lib/systemd/system/docker.service'])).code).toBe(0);
  }, 300_000);
});
