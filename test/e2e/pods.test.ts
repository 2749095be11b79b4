/**
 * verify --pods end to end on one 3-node lab (root; must run under CI=true), issue 17:
 * green on vxlan (tightened masquerade), host-gw and vxlan+DirectRouting; `masquerade: flannel`
 * green; a broad Docker-style MASQUERADE rule → source not preserved, exit 3 naming the rule;
 * FORWARD policy DROP with forwardAccept: false → pod ↔ pod fails naming FORWARD, exit 3; SIGINT
 * mid-run removes the pods; after every run nothing verify created is left on any node.
 * Runs the built CLI (`npm run build` first), as an operator would.
 * The release matrix: this file runs everything on the stand-in's v0.20.2; pods-releases.test.ts runs
 * the positive checks (vxlan, host-gw, vxlan+DirectRouting, masquerade: flannel) on v0.11.0 over etcd
 * v2 and v0.22.3 over v3.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startLab, type TestLab } from '../helpers/lab.js';
import { describeRoot } from '../helpers/root.js';
import { cli, repoRoot, showCli as show } from '../helpers/cli.js';
import { podsHelpers } from '../helpers/pods.js';
import { standinTarball } from '../../src/lab/standin.js';

describeRoot('flanctl verify --pods on a 3-node lab (stand-in v0.20.2)', () => {
  let lab: TestLab;
  let inv: string;
  const nodes = ['node1', 'node2', 'node3'];
  let pods: ReturnType<typeof podsHelpers>;
  const editInventory: ReturnType<typeof podsHelpers>['editInventory'] = (fn) => pods.editInventory(fn);
  const sh = (node: string, script: string) => pods.sh(node, script);
  const verifyPods = () => pods.verifyPods();
  const expectNothingLeft = (bridge?: string) => pods.expectNothingLeft(bridge);
  const expectGreen = (label: string) => pods.expectGreen(label);

  beforeAll(async () => {
    if (!existsSync(join(repoRoot, 'dist/commands/verify.js'))) throw new Error('dist/ is missing: run `npm run build` before the system tests');
    lab = await startLab({ nodes: 3, tarball: standinTarball('v0.20.2') });
    inv = lab.inventoryPath;
    pods = podsHelpers(lab, nodes);
    const certs = await cli(['certs', 'generate', '-i', inv]);
    expect(certs.code, show(certs)).toBe(0);
    const boot = await cli(['bootstrap', '-i', inv, '--trust-new-hosts']);
    expect(boot.code, show(boot)).toBe(0);
    expect((await lab.exec('node1', ['/opt/flannel/bin/flanneld', '-version'])).stderr.split('\n')[0]).toBe('v0.20.2');
  }, 300_000);

  afterAll(async () => {
    await lab?.down();
  }, 120_000);

  it('vxlan, tightened masquerade: every pod reaches every pod with its own address, masqueraded out; text, JSON and JUnit', async () => {
    await expectGreen('vxlan');
    const junit = join(lab.dir, 'pods.xml');
    const human = await cli(['verify', '-i', inv, '--pods', '--junit', junit]);
    expect(human.code, show(human)).toBe(0);
    expect(human.stdout).toMatch(/Pods \(netns \+ veth on docker0, as a container runtime would\): 6\/6 pod pairs ok, source preserved on 6\/6, 12\/12 pod checks ok in [\d.]+ s/);
    expect(readFileSync(junit, 'utf8')).toMatch(/<testsuite name="pods" tests="18" failures="0"/);
  }, 120_000);

  it('a deliberately broad Docker-style MASQUERADE (-s <subnet> ! -o docker0) fails source-preserved naming the rule, exit 3', async () => {
    // masquerade: flannel, so flanctl's own script does not remove the broad rule while the test runs.
    editInventory((d) => { d.iptables = { ...(d.iptables ?? {}), masquerade: 'flannel' }; });
    const boot = await cli(['bootstrap', '-i', inv]);
    expect(boot.code, show(boot)).toBe(0);
    // bootstrap leaves the previous mode's flanctl-iptables watcher running (reported to the lead); it
    // would delete the broad rule under the test's feet.
    for (const n of nodes) await sh(n, 'supervisorctl update >/dev/null');
    await expectGreen('vxlan, masquerade: flannel');

    const subnet = (await sh('node1', '. /run/flannel/subnet.env; echo "${FLANNEL_SUBNET%.*}.0/${FLANNEL_SUBNET#*/}"')).trim();
    const rule = ['-s', subnet, '!', '-o', 'docker0', '-j', 'MASQUERADE'];
    await sh('node1', `iptables -w -t nat -I POSTROUTING 1 ${rule.join(' ')}`);
    try {
      const { r, json } = await verifyPods();
      expect(r.code, show(r)).toBe(3);
      const bad = json.pods.pairs.filter((p) => !p.ok);
      expect(bad.map((p) => `${p.from}->${p.to}`).sort()).toEqual(['node1->node2', 'node1->node3']);
      for (const p of bad) {
        expect(p.sourcePreserved).toBe(false);
        expect(p.seenSource).toMatch(/^10\.244\.\d+\.0$/); // node1's flannel.1 address
        expect(p.error).toContain(`SNAT by node1: -t nat -A POSTROUTING -s ${subnet} ! -o docker0 -j MASQUERADE`);
      }
      await expectNothingLeft();
    } finally {
      await lab.exec("node1", ["sh", "-c", `iptables -w -t nat -D POSTROUTING ${rule.join(" ")} || true`]);
    }
  }, 180_000);

  it('FORWARD policy DROP with forwardAccept: false: pod ↔ pod fails naming FORWARD, exit 3', async () => {
    editInventory((d) => { d.iptables = { ...(d.iptables ?? {}), masquerade: 'tightened', forwardAccept: false }; });
    const boot = await cli(['bootstrap', '-i', inv]);
    expect(boot.code, show(boot)).toBe(0);
    // What a hardened host has: FORWARD policy DROP, and nobody (flanneld, flanctl) accepting pod traffic.
    for (const n of nodes) await sh(n, 'iptables -w -F FORWARD && iptables -w -P FORWARD DROP');
    try {
      const { r, json } = await verifyPods();
      expect(r.code, show(r)).toBe(3);
      expect(json.pods.pairs.filter((p) => p.ok)).toHaveLength(0);
      for (const p of json.pods.pairs) expect(p.error).toMatch(new RegExp(`dropped in FORWARD — ${p.from}: FORWARD policy DROP .*forwardAccept is false`));
      const human = await cli(['verify', '-i', inv, '--pods']);
      expect(human.code).toBe(3);
      expect(human.stdout).toMatch(/✗ pod node1 → pod node2: dropped in FORWARD — node1: FORWARD policy DROP/);
      await expectNothingLeft();
    } finally {
      for (const n of nodes) await sh(n, 'iptables -w -P FORWARD ACCEPT');
      editInventory((d) => { d.iptables = { ...(d.iptables ?? {}), forwardAccept: true }; });
    }
    const boot2 = await cli(['bootstrap', '-i', inv]);
    expect(boot2.code, show(boot2)).toBe(0);
  }, 180_000);

  it('SIGINT while the pods exist: they are removed before the CLI exits (130)', async () => {
    const child = spawn(process.execPath, [join(repoRoot, 'bin/run.js'), 'verify', '-i', inv, '--pods'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    try {
      for (let i = 0; i < 400; i++) {
        const r = await lab.exec('node2', ['ip', 'netns', 'list']);
        if (r.stdout.includes('flanctl-pod')) break;
        await new Promise((res) => setTimeout(res, 25));
      }
      child.kill('SIGINT');
      expect(await exited, stderr).toBe(130);
      expect(stderr).toContain('removing the throwaway pods');
      await expectNothingLeft();
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 120_000);

  it('host-gw and vxlan with DirectRouting: green', async () => {
    const hg = await cli(['switch-backend', 'host-gw', '-i', inv, '--yes']);
    expect(hg.code, show(hg)).toBe(0);
    await expectGreen('host-gw');
    const dr = await cli(['switch-backend', 'vxlan', '--direct-routing', '-i', inv, '--yes']);
    expect(dr.code, show(dr)).toBe(0);
    await expectGreen('vxlan+DirectRouting');
  }, 300_000);

  it('cni.enabled: bootstrap installs the conflist and plugins; verify --pods goes through CNI ADD/DEL (real bridge/host-local/portmap) and leaves nothing behind; daemon.json merge keeps foreign keys; docker0 check', async () => {
    // The flannel CNI stand-in (lab equipment) packed like upstream's cni-plugin-flannel-linux-amd64-<v>.tgz.
    const pack = join(lab.dir, 'cni-pack');
    mkdirSync(pack, { recursive: true });
    copyFileSync(join(repoRoot, 'lab/flannel-cni-standin/flannel.mjs'), join(pack, 'flannel-amd64'));
    chmodSync(join(pack, 'flannel-amd64'), 0o755);
    const tgz = join(lab.dir, 'cni-plugin-flannel-linux-amd64-v1.1.2.tgz');
    execFileSync('tar', ['-C', pack, '-czf', tgz, 'flannel-amd64']);
    editInventory((d) => {
      d.cni = { enabled: true, pluginsTarball: tgz };
      d.docker = { integration: true, dockerd: '/usr/local/bin/dockerd' };
    });
    const foreign = { 'log-driver': 'journald', 'registry-mirrors': ['https://mirror.invalid'], 'storage-driver': 'overlay2', bip: '172.17.0.1/16' };
    await lab.exec('node1', ['sh', '-c', 'mkdir -p /etc/docker && cat > /etc/docker/daemon.json'], { input: JSON.stringify(foreign) });

    const boot = await cli(['bootstrap', '-i', inv]);
    expect(boot.code, show(boot)).toBe(0);
    const conflist = JSON.parse(await sh('node1', 'cat /etc/cni/net.d/10-flannel.conflist')) as { name: string; plugins: Array<{ type: string; delegate?: Record<string, unknown> }> };
    expect(conflist.name).toBe('cbr0');
    expect(conflist.plugins.map((p) => p.type)).toEqual(['flannel', 'portmap']);
    expect(conflist.plugins[0].delegate).toMatchObject({ hairpinMode: true, isDefaultGateway: true });
    expect((await sh('node1', 'ls /opt/cni/bin')).split('\n').filter(Boolean).sort()).toEqual(['bridge', 'flannel', 'host-local', 'portmap']);
    await sh('node1', 'cmp /usr/lib/cni/bridge /opt/cni/bin/bridge');

    const env = await sh('node1', 'cat /run/flannel/subnet.env');
    const fsub = /FLANNEL_SUBNET=(\S+)/.exec(env)![1];
    const fmtu = Number(/FLANNEL_MTU=(\d+)/.exec(env)![1]);
    const daemon = JSON.parse(await sh('node1', 'cat /etc/docker/daemon.json')) as Record<string, unknown>;
    expect(daemon).toEqual({ ...foreign, bip: fsub, mtu: fmtu });

    const { r, json } = await verifyPods();
    expect(r.code, show(r)).toBe(0);
    expect(json.pods.via).toBe('cni');
    expect(json.pods.pairs.every((p) => p.ok && p.sourcePreserved)).toBe(true);
    // host-local handed out the addresses (the first free one after the gateway).
    expect(json.pods.pods.every((p) => /^10\.244\.\d+\.2$/.test(p.ip ?? ''))).toBe(true);
    const dockerChecks = (JSON.parse(r.stdout) as { checks: Array<{ node: string; name: string; ok: boolean; skipped?: boolean; detail: string }> }).checks.filter((c) => c.name === 'docker0');
    expect(dockerChecks).toHaveLength(3);
    expect(dockerChecks.every((c) => c.ok && c.skipped && /Docker is not installed/.test(c.detail))).toBe(true);
    await expectNothingLeft('cni0');
    for (const n of nodes) {
      const state = await sh(n, 'ls -A /var/lib/cni/flannel; ls -A /var/lib/cni/networks/cbr0 2>/dev/null || true');
      expect(state.split('\n').filter((f) => /^\d+\.\d+\.\d+\.\d+$|flanctl/.test(f)), `${n}: ${state}`).toEqual([]);
      expect(await sh(n, 'iptables -w -t nat -S | grep -c -e CNI- -e flanctl-verify || true')).toBe('0\n');
    }

    // Docker "present" on node2 (a dockerd on the configured path): docker0 is checked.
    await sh('node2', 'printf "#!/bin/sh\\nexit 0\\n" > /usr/local/bin/dockerd && chmod +x /usr/local/bin/dockerd');
    try {
      const missing = await cli(['verify', '-i', inv, '--json']);
      expect(missing.code, show(missing)).toBe(3);
      expect(missing.stdout).toContain('Docker is installed but docker0 does not exist');
      const env2 = await sh('node2', '. /run/flannel/subnet.env; echo "$FLANNEL_SUBNET $FLANNEL_MTU"');
      const [sub2, mtu2] = env2.trim().split(' ');
      await sh('node2', `ip link add docker0 type bridge && ip addr add ${sub2} dev docker0 && ip link set docker0 mtu ${mtu2} up`);
      const ok = await cli(['verify', '-i', inv, '--json']);
      expect(ok.code, show(ok)).toBe(0);
      expect(ok.stdout).toContain(`${sub2}, MTU ${mtu2}`);
    } finally {
      await lab.exec('node2', ['sh', '-c', 'ip link del docker0; rm -f /usr/local/bin/dockerd']);
    }

    const reset = await cli(['reset', '-i', inv, '--yes']);
    expect(reset.code, show(reset)).toBe(0);
    for (const n of nodes) expect(await sh(n, 'ls /etc/cni/net.d /opt/cni/bin 2>&1 | grep -c -e flannel -e bridge -e portmap || true')).toBe('0\n');
    expect(JSON.parse(await sh('node1', 'cat /etc/docker/daemon.json'))).toMatchObject({ 'log-driver': 'journald' });
  }, 300_000);
});
