/**
 * flanctl's systemd path on lab nodes that boot a real systemd (`lab up --init systemd`,
 * systemd-nspawn), with the flanneld stand-in: v0.20.2 over etcd v3 and v0.11.0 over etcd v2.
 * One lab per release, reused by the cases in order. Root; must run under CI=true.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadInventory } from '../../src/model/inventory.js';
import { flanctlRules, iptablesCheckArgv } from '../../src/steps/iptables.js';
import { leaseSubnetFromEnv, parseEnvFile } from '../../src/steps/util.js';
import { startLab, type TestLab } from '../helpers/lab.js';
import { describeRoot } from '../helpers/root.js';
import { cli, repoRoot, showCli as show } from '../helpers/cli.js';

const V011 = join(repoRoot, 'lab', 'dist', 'flannel-v0.11.0-standin-linux-amd64.tar.gz');
const UNITS = ['flanneld.service', 'flanctl-iptables.service', 'flanctl-iptables.timer'];

/** Docker as far as flannel cares (test equipment): at boot, after flanneld, dockerd adds its broad rule. */
const FAKE_DOCKER = `#!/bin/sh
. /run/flannel/subnet.env
ip=\${FLANNEL_SUBNET%/*}
iptables -w -t nat -A POSTROUTING -s "\${ip%.*}.0/\${FLANNEL_SUBNET#*/}" ! -o docker0 -j MASQUERADE
`;
const FAKE_DOCKER_UNIT = `[Unit]
Description=Docker stand-in (lab test equipment): adds the broad MASQUERADE rule dockerd adds at start
After=flanneld.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/fake-docker-nat
[Install]
WantedBy=multi-user.target
`;

async function poll<T>(fn: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 500): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) return undefined;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

function systemdSuite(release: string, opts: { tarball?: string; api: 'v3' | 'v2'; full: boolean }) {
  describeRoot(`systemd path on a 2-node systemd lab (stand-in ${release}, etcd ${opts.api})`, () => {
    let lab: TestLab;
    let inv: string;
    const node = (n = 0) => lab.nodes[n].name;
    const sh = async (n: string, script: string) => lab.exec(n, ['sh', '-c', script]);
    const show1 = async (n: string, unit: string, prop: string) => (await lab.exec(n, ['systemctl', 'show', unit, '-p', prop, '--value'])).stdout.trim();
    const subnetOf = async (n: string) => leaseSubnetFromEnv(parseEnvFile((await lab.exec(n, ['cat', '/run/flannel/subnet.env'])).stdout).FLANNEL_SUBNET);
    const verifyOk = async () => (await cli(['verify', '-i', inv])).code === 0;
    const expectVerify = async (probe = false) => {
      const v = await cli(['verify', '-i', inv, ...(probe ? ['--probe'] : [])]);
      expect(v.code, show(v)).toBe(0);
    };

    async function reboot(n: string): Promise<void> {
      const bootId = (await lab.exec(n, ['cat', '/proc/sys/kernel/random/boot_id'])).stdout.trim();
      await lab.exec(n, ['systemctl', 'reboot']).catch(() => undefined);
      const up = await poll(async () => {
        const id = (await lab.exec(n, ['cat', '/proc/sys/kernel/random/boot_id'])).stdout.trim();
        const st = (await lab.exec(n, ['systemctl', 'is-system-running'])).stdout.trim();
        return id && id !== bootId && st === 'running' ? st : undefined;
      }, 90_000);
      expect(up, `${n} booted again`).toBe('running');
    }

    beforeAll(async () => {
      if (!existsSync(join(repoRoot, 'dist/commands/bootstrap.js'))) throw new Error('dist/ is missing: run `npm run build` first');
      lab = await startLab({ nodes: 2, init: 'systemd', tarball: opts.tarball });
      inv = lab.inventoryPath;
      if (opts.api === 'v2') {
        const doc = parseDocument(readFileSync(inv, 'utf8'));
        doc.setIn(['etcd', 'api'], 'v2');
        writeFileSync(inv, doc.toString());
      }
      expect((await loadInventory(inv)).flannel.service).toBe('systemd');
    }, 600_000);
    afterAll(async () => {
      await lab?.down();
    }, 120_000);

    it('bootstrap: unit enabled and active only after READY=1, /run/flannel/docker from ExecStartPost; rerun changes nothing', async () => {
      const r = await cli(['bootstrap', '-i', inv, '--json']);
      expect(r.code, show(r)).toBe(0);
      expect(r.json.verify.ok).toBe(true);
      for (const n of lab.nodes) {
        expect((await lab.exec(n.name, ['systemctl', 'is-enabled', ...UNITS])).stdout.split('\n').filter(Boolean)).toEqual(['enabled', 'enabled', 'enabled']);
        expect((await lab.exec(n.name, ['systemctl', 'is-active', 'flanneld.service', 'flanctl-iptables.timer'])).stdout.trim().split('\n')).toEqual(['active', 'active']);
        expect(await show1(n.name, 'flanneld', 'Type')).toBe('notify');
        // systemd logged "Started" only after flanneld's own "Running backend." (READY=1 follows it).
        const journal = (await lab.exec(n.name, ['journalctl', '-u', 'flanneld', '-o', 'cat', '--no-pager'])).stdout;
        const running = journal.indexOf('Running backend.');
        const started = journal.search(/^Started flanneld\.service/m);
        expect(running, journal).toBeGreaterThanOrEqual(0);
        expect(started, journal).toBeGreaterThan(running);
        const docker = (await lab.exec(n.name, ['cat', '/run/flannel/docker'])).stdout;
        expect(docker).toMatch(/^DOCKER_NETWORK_OPTIONS=" --bip=10\.244\.\d+\.1\/24/m);
      }
      const pids = await Promise.all(lab.nodes.map((n) => show1(n.name, 'flanneld', 'MainPID')));
      const again = await cli(['bootstrap', '-i', inv, '--json', '--no-verify']);
      expect(again.json.summary, show(again)).toMatchObject({ changed: 0, restarts: 0, failed: 0 });
      expect(await Promise.all(lab.nodes.map((n) => show1(n.name, 'flanneld', 'MainPID')))).toEqual(pids);
    }, 240_000);

    it('a node reboot: flanneld back with the same subnet, flanctl rules back, Docker\'s broad rule gone, verify green without bootstrap', async () => {
      const n = node(0);
      await lab.exec(n, ['sh', '-c', 'cat > /usr/local/sbin/fake-docker-nat && chmod 755 /usr/local/sbin/fake-docker-nat'], { input: FAKE_DOCKER });
      await lab.exec(n, ['sh', '-c', 'cat > /etc/systemd/system/docker.service && systemctl daemon-reload && systemctl enable docker.service'], { input: FAKE_DOCKER_UNIT });
      const subnet = await subnetOf(n);
      expect(subnet).toMatch(/^10\.244\.\d+\.0\/24$/);
      await reboot(n);
      const active = await poll(async () => ((await lab.exec(n, ['systemctl', 'is-active', 'flanneld'])).stdout.trim() === 'active' ? true : undefined), 60_000);
      expect(active).toBe(true);
      expect(await subnetOf(n)).toBe(subnet);
      // Docker did add its rule this boot (its unit ran after flanneld) …
      expect((await lab.exec(n, ['journalctl', '-b', '-u', 'docker', '-o', 'cat'])).stdout).toMatch(/Finished docker\.service/);
      // … and the guard (after docker.service) removed it; flanctl's own rules are back.
      const rules = flanctlRules(await loadInventory(inv), subnet!);
      const settled = await poll(async () => {
        for (const rule of rules.ensure) if ((await lab.exec(n, iptablesCheckArgv(rule))).code !== 0) return undefined;
        for (const rule of rules.absent) if ((await lab.exec(n, iptablesCheckArgv(rule))).code === 0) return undefined;
        return true;
      }, 40_000);
      expect(settled, (await sh(n, 'iptables -t nat -S POSTROUTING')).stdout).toBe(true);
      expect(await poll(async () => ((await verifyOk()) ? true : undefined), 60_000, 2000)).toBe(true);
    }, 300_000);

    if (opts.full) {
      it('control: without the guard units Docker\'s rule survives the boot and verify fails; bootstrap puts the guard back', async () => {
        const n = node(0);
        await lab.exec(n, ['systemctl', 'disable', '--now', 'flanctl-iptables.timer', 'flanctl-iptables.service']);
        await reboot(n);
        await poll(async () => ((await lab.exec(n, ['systemctl', 'is-active', 'flanneld', 'docker'])).stdout.trim() === 'active\nactive' ? true : undefined), 60_000);
        const v = await cli(['verify', '-i', inv]);
        expect(v.code, show(v)).toBe(3);
        expect(v.stdout + v.stderr).toMatch(/MASQUERADE/);
        const b = await cli(['bootstrap', '-i', inv]);
        expect(b.code, show(b)).toBe(0);
        expect((await lab.exec(n, ['systemctl', 'is-enabled', 'flanctl-iptables.timer'])).stdout.trim()).toBe('enabled');
      }, 300_000);

      it('an inventory change restarts flanneld through systemctl', async () => {
        const before = await Promise.all(lab.nodes.map((n) => show1(n.name, 'flanneld', 'MainPID')));
        const doc = parseDocument(readFileSync(inv, 'utf8'));
        doc.setIn(['flannel', 'subnetLeaseRenewMargin'], 45);
        writeFileSync(inv, doc.toString());
        const r = await cli(['bootstrap', '-i', inv, '--json']);
        expect(r.code, show(r)).toBe(0);
        expect(r.json.summary.restarts).toBe(lab.nodes.length);
        for (const [i, n] of lab.nodes.entries()) {
          expect(await show1(n.name, 'flanneld', 'MainPID')).not.toBe(before[i]);
          expect(await show1(n.name, 'flanneld', 'ExecStart')).toMatch(/-subnet-lease-renew-margin=45/);
        }
      }, 240_000);

      it('kill -9 of flanneld: systemd restarts it and verify goes green by itself', async () => {
        const n = node(1);
        const pid = await show1(n, 'flanneld', 'MainPID');
        expect(Number(pid)).toBeGreaterThan(1);
        await lab.exec(n, ['kill', '-9', pid]);
        const back = await poll(async () => {
          const now = await show1(n, 'flanneld', 'MainPID');
          const act = (await lab.exec(n, ['systemctl', 'is-active', 'flanneld'])).stdout.trim();
          return act === 'active' && now !== pid && now !== '0' ? now : undefined;
        }, 60_000);
        expect(back).toBeDefined();
        expect(Number(await show1(n, 'flanneld', 'NRestarts'))).toBeGreaterThanOrEqual(1);
        expect(await poll(async () => ((await verifyOk()) ? true : undefined), 60_000, 2000)).toBe(true);
      }, 180_000);

      it('a crash-looping flanneld (healthz port taken) fails bootstrap early with its log lines', async () => {
        const n = node(1);
        await lab.exec(n, ['systemctl', 'stop', 'flanneld']);
        const squat = await lab.exec(n, ['systemd-run', '--unit=flanlab-squat', '/usr/bin/node', '-e', "require('net').createServer().listen(2401)"]);
        expect(squat.code, squat.stderr).toBe(0);
        try {
          const r = await cli(['bootstrap', '-i', inv, '--no-verify']);
          expect(r.code, show(r)).toBe(1);
          expect(r.stdout + r.stderr).toMatch(/flanneld exited \d+ times while starting/);
          expect(r.stdout + r.stderr).toMatch(/healthz server error/i);
          expect(r.stdout + r.stderr).not.toMatch(/still starting/);
        } finally {
          await lab.exec(n, ['systemctl', 'stop', 'flanlab-squat']);
        }
        const again = await cli(['bootstrap', '-i', inv]);
        expect(again.code, show(again)).toBe(0);
      }, 240_000);

      it('switch-backend both ways keeps the systemd units running', async () => {
        for (const to of ['host-gw', 'vxlan']) {
          const r = await cli(['switch-backend', to, '-i', inv, '--yes', '--json']);
          expect(r.code, show(r)).toBe(0);
          expect(JSON.parse(r.stdout).outcome).toBe('switched');
          for (const n of lab.nodes) {
            expect((await lab.exec(n.name, ['systemctl', 'is-active', 'flanneld'])).stdout.trim()).toBe('active');
            expect((await lab.exec(n.name, ['systemctl', 'show', 'flanneld', '-p', 'ExecStart', '--value'])).code).toBe(0);
          }
          await expectVerify(to === 'host-gw'); // host-gw has no flannel.1 to ping: probe addresses
        }
      }, 300_000);

      it("masquerade tightened → flannel in place: the guard units are disabled and removed, no flanctl rule comes back, verify green", async () => {
        const doc = parseDocument(readFileSync(inv, 'utf8'));
        doc.setIn(['iptables', 'masquerade'], 'flannel');
        writeFileSync(inv, doc.toString());
        const r = await cli(['bootstrap', '-i', inv, '--json']);
        expect(r.code, show(r)).toBe(0);
        expect(r.json.verify.ok, show(r)).toBe(true);
        const own = async (n: string) => (await sh(n, 'iptables -t nat -S; iptables -t filter -S')).stdout.split('\n').filter((l) => l.includes('--comment flanctl'));
        for (const n of lab.nodes) {
          expect((await sh(n.name, 'ls /etc/systemd/system/flanctl-iptables.* /etc/systemd/system/*.wants/flanctl-iptables.* 2>/dev/null; true')).stdout.trim()).toBe('');
          expect((await lab.exec(n.name, ['systemctl', 'is-active', 'flanctl-iptables.timer'])).stdout.trim()).not.toBe('active');
          expect(await show1(n.name, 'flanneld', 'ExecStartPost')).not.toMatch(/flanctl-iptables/);
          expect(await own(n.name)).toEqual([]);
        }
        // Nothing is left that could re-apply the old rules (the timer ran the script every 30 s).
        expect((await lab.exec(node(0), ['systemctl', 'start', 'flanctl-iptables.service'])).stderr).toMatch(/not found/i);
        expect(await own(node(0))).toEqual([]);
        expect((await lab.exec(node(0), ['systemctl', 'list-units', '--failed', '--no-legend', '--plain'])).stdout.trim()).toBe('');
      }, 240_000);
    }

    it('reset removes units, drop-ins and enablement symlinks and leaves no failed unit', async () => {
      for (const n of lab.nodes) await lab.exec(n.name, ['sh', '-c', 'mkdir -p /etc/systemd/system/flanneld.service.d && printf "[Service]\\nEnvironment=X=1\\n" > /etc/systemd/system/flanneld.service.d/override.conf']);
      const r = await cli(['reset', '-i', inv, '--yes']);
      expect(r.code, show(r)).toBe(0);
      for (const n of lab.nodes) {
        const left = await sh(n.name, 'ls -d /etc/systemd/system/flanneld.service* /etc/systemd/system/flanctl-iptables.* /etc/systemd/system/*.wants/flanneld.service /etc/systemd/system/*.requires/flanneld.service /etc/systemd/system/*.wants/flanctl-iptables.* 2>/dev/null; true');
        expect(left.stdout.trim(), `${n.name}: left behind`).toBe('');
        expect((await lab.exec(n.name, ['systemctl', 'list-units', '--failed', '--no-legend', '--plain'])).stdout.trim()).toBe('');
        expect((await lab.exec(n.name, ['systemctl', 'is-active', 'flanneld'])).stdout.trim()).not.toBe('active');
        expect(await show1(n.name, 'flanneld', 'MainPID')).toBe('0');
      }
      const again = await cli(['reset', '-i', inv, '--yes', '--json']);
      expect(again.code, show(again)).toBe(0);
      expect(again.json.summary.changed).toBe(0);
    }, 240_000);
  });
}

systemdSuite('v0.20.2', { api: 'v3', full: true });
systemdSuite('v0.11.0', { tarball: V011, api: 'v2', full: false });
