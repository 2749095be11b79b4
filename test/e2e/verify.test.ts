/**
 * verify and status end to end on a 3-node lab (root; must run under CI=true): bootstrap → verify
 * passes with 6 pairs; faults (flanneld stopped on node2, a peer route deleted on node1) → exit 3
 * naming them (and drawn by --html); bootstrap repairs → exit 0; --json, --junit and --html agree; etcd unreachable → exit 1;
 * host-gw (switched by hand) with --probe passes and leaves no flanctl-probe interface.
 * Runs the built CLI (`npm run build` first), as an operator would.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadInventory } from '../../src/model/inventory.js';
import { openKv } from '../../src/kv/index.js';
import { startLab, type TestLab } from '../helpers/lab.js';
import { describeRoot } from '../helpers/root.js';
import { cli, repoRoot, showCli, type CliResult } from '../helpers/cli.js';
import { listLeases } from '../../src/kv/flannel-keys.js';

const repo = repoRoot;


interface Pair { from: string; to: string; target: string | null; ok: boolean; rttMs: number | null; error: string | null }
interface Check { node: string; name: string; ok: boolean; detail: string }
interface NodeInfo { node: string; flanneldVersion: string | null; lease: { subnet: string; ttlSeconds: number | null; ageSeconds: number | null } | null; certExpires: string | null }
interface Report { pairs: Pair[]; checks: Check[]; probes: Array<{ node: string; removed: boolean; linkType?: string }>; ok: boolean; startedAt?: string; nodeInfo?: NodeInfo[] }

const parseReport = (r: CliResult): Report => JSON.parse(r.stdout) as Report;
const show = showCli;

describeRoot('flanctl verify / status on a 3-node lab', () => {
  let lab: TestLab;
  let inv: string;
  let work: string;

  beforeAll(async () => {
    if (!existsSync(join(repo, 'dist/commands/verify.js'))) throw new Error('dist/ is missing: run `npm run build` before the system tests');
    work = mkdtempSync(join(tmpdir(), 'flanctl-verify-e2e-'));
    lab = await startLab({ nodes: 3 });
    inv = lab.inventoryPath;
    const certs = await cli(['certs', 'generate', '-i', inv]);
    expect(certs.code, show(certs)).toBe(0);
  }, 300_000);

  afterAll(async () => {
    await lab?.down();
    if (work) rmSync(work, { recursive: true, force: true });
  }, 120_000);

  it('after bootstrap, verify exits 0 with 6 ok pairs, and status lists the 3 leases', async () => {
    const boot = await cli(['bootstrap', '-i', inv, '--trust-new-hosts']);
    expect(boot.code, show(boot)).toBe(0);

    const t0 = performance.now();
    const v = await cli(['verify', '-i', inv]);
    const ms = Math.round(performance.now() - t0);
    expect(v.code, show(v)).toBe(0);
    console.log(`verify wall time on 3 lab nodes (CLI, incl. start-up): ${ms} ms`);
    expect(v.stdout).toContain('6/6 pairs ok');
    expect(v.stdout).toMatch(/verify: ok — 3 nodes/);

    const s = await cli(['status', '-i', inv, '--json']);
    expect(s.code, show(s)).toBe(0);
    const status = JSON.parse(s.stdout) as { leases: Array<{ node: string; backendType: string; vtepMac: string; ttlSeconds: number }>; nodesWithoutLease: string[] };
    expect(status.leases.map((l) => l.node).sort()).toEqual(['node1', 'node2', 'node3']);
    expect(status.leases.every((l) => l.backendType === 'vxlan' && /^[0-9a-f:]{17}$/.test(l.vtepMac) && l.ttlSeconds > 80_000)).toBe(true);
    expect(status.nodesWithoutLease).toEqual([]);
  }, 300_000);

  it('--json and --junit carry the same counts', async () => {
    const junitFile = join(work, 'ok.xml');
    const v = await cli(['verify', '-i', inv, '--json', '--junit', junitFile]);
    expect(v.code, show(v)).toBe(0);
    const report = parseReport(v);
    expect(report.pairs).toHaveLength(6);
    expect(report.pairs.every((p) => p.ok && typeof p.rttMs === 'number' && /^10\.244\.\d+\.0$/.test(p.target!))).toBe(true);
    const xml = readFileSync(junitFile, 'utf8');
    const total = report.pairs.length + report.checks.length;
    const failed = report.pairs.filter((p) => !p.ok).length + report.checks.filter((c) => !c.ok).length;
    expect(xml.match(/<testcase /g)?.length).toBe(total);
    expect(xml).toContain(`<testsuites name="flanctl verify" tests="${total}" failures="${failed}"`);
    expect(xml).toMatch(/<testsuite name="reachability" tests="6" failures="0"/);
    // facts per node for --json/--html: the stand-in's version, fresh 24 h leases, the lab's TLS cert
    expect(report.nodeInfo?.map((i) => i.node)).toEqual(['node1', 'node2', 'node3']);
    for (const i of report.nodeInfo!) {
      expect(i.flanneldVersion).toBe('v0.20.2');
      expect(i.lease?.subnet).toMatch(/^10\.244\.\d+\.0\/24$/);
      expect(i.lease!.ttlSeconds! + i.lease!.ageSeconds!).toBe(86_400);
      expect(Date.parse(i.certExpires!)).toBeGreaterThan(Date.now() + 30 * 86_400_000);
    }
    expect(Math.abs(Date.parse(report.startedAt!) - Date.now())).toBeLessThan(600_000);
  });

  it('flanneld stopped on node2 and a peer route deleted on node1: exit 3 naming both and the failed pairs', async () => {
    const s = JSON.parse((await cli(['status', '-i', inv, '--json'])).stdout) as { leases: Array<{ node: string; subnet: string }> };
    const node3Subnet = s.leases.find((l) => l.node === 'node3')!.subnet;
    const stop = await lab.exec('node2', ['supervisorctl', 'stop', 'flanneld']);
    expect(stop.code, stop.stderr).toBe(0);
    const del = await lab.exec('node1', ['ip', 'route', 'del', node3Subnet]);
    expect(del.code, del.stderr).toBe(0);

    const junitFile = join(work, 'fail.xml');
    const human = await cli(['verify', '-i', inv]);
    expect(human.code, show(human)).toBe(3);
    expect(human.stdout).toMatch(/failed: .*node2: service/);
    expect(human.stdout).toMatch(/failed: .*node1: peers/);
    expect(human.stdout).toMatch(/failed: .*node1 → node3/);
    expect(human.stdout).toContain(`node3 (${node3Subnet}) route: kernel has no route`);

    const htmlFile = join(work, 'fail.html');
    const v = await cli(['verify', '-i', inv, '--json', '--junit', junitFile, '--html', htmlFile]);
    expect(v.code, show(v)).toBe(3);
    const report = parseReport(v);
    // --html: the same report, embedded and drawn (the DOM itself is tested in Chromium by verify-html.test.ts)
    const html = readFileSync(htmlFile, 'utf8');
    expect(JSON.parse(/<script type="application\/json" id="report-data">([\s\S]*?)<\/script>/.exec(html)![1])).toEqual(report);
    expect(html.match(/<td class="cell fail"/g)).toHaveLength(2);
    expect(html).toMatch(/<td class="cell fail" data-from="node1" data-to="node3" title="node1 → node3 \(10\.244\.\d+\.0\): FAILED — /);
    expect(html).toContain(`<span id="failure-count">${report.pairs.filter((p) => !p.ok).length + report.checks.filter((c) => !c.ok).length}</span>`);
    expect(report.ok).toBe(false);
    const failedChecks = report.checks.filter((c) => !c.ok).map((c) => `${c.node}: ${c.name}`);
    expect(failedChecks).toEqual(expect.arrayContaining(['node2: service', 'node1: peers']));
    const failedPairs = report.pairs.filter((p) => !p.ok).map((p) => `${p.from}->${p.to}`).sort();
    expect(failedPairs).toEqual(['node1->node3', 'node3->node1']);
    const xml = readFileSync(junitFile, 'utf8');
    expect(xml.match(/<failure /g)?.length).toBe(failedChecks.length + failedPairs.length);
    expect(xml).toMatch(/<testsuite name="reachability" tests="6" failures="2"/);
  });

  it('bootstrap repairs it and verify exits 0 again', async () => {
    const boot = await cli(['bootstrap', '-i', inv]);
    expect(boot.code, show(boot)).toBe(0);
    const v = await cli(['verify', '-i', inv, '--json']);
    expect(v.code, show(v)).toBe(0);
    expect(parseReport(v).pairs.filter((p) => p.ok)).toHaveLength(6);
  }, 300_000);

  it('etcd unreachable: exit 1 (verify cannot run), nothing about pairs', async () => {
    const bad = join(work, 'bad-etcd.yaml');
    writeFileSync(bad, readFileSync(inv, 'utf8').replace(/(https:\/\/[\d.]+):2379/g, '$1:2'));
    const v = await cli(['verify', '-i', bad]);
    expect(v.code, show(v)).toBe(1);
    expect(v.stdout).not.toContain('Reachability');
    expect(v.stderr).toMatch(/etcd|lease/i);
  });

  it('host-gw (switched by hand) passes with --probe, says so, and leaves no flanctl-probe behind', async () => {
    const hostGw = join(work, 'host-gw.yaml');
    writeFileSync(hostGw, readFileSync(inv, 'utf8').replace(/type: vxlan/, 'type: host-gw'));
    for (const n of lab.nodes) {
      const r = await lab.exec(n.name, ['supervisorctl', 'stop', 'flanneld']);
      expect(r.code, r.stderr).toBe(0);
      await lab.exec(n.name, ['ip', 'link', 'del', 'flannel.1']);
    }
    const cfg = await cli(['network-config', '--apply', '-i', hostGw]);
    expect(cfg.code, show(cfg)).toBe(0);
    for (const n of lab.nodes) expect((await lab.exec(n.name, ['supervisorctl', 'start', 'flanneld'])).code).toBe(0);
    // The lease is rewritten with BackendType host-gw once flanneld is up again.
    const kv = await openKv(await loadInventory(hostGw));
    let types: Array<string | undefined> = [];
    try {
      for (let i = 0; i < 120; i++) {
        types = (await listLeases(kv, '/coreos.com/network')).map((l) => l.backendType);
        if (types.length === 3 && types.every((t) => t === 'host-gw')) break;
        await new Promise((r) => setTimeout(r, 250));
      }
    } finally {
      await kv.close();
    }
    expect(types).toEqual(['host-gw', 'host-gw', 'host-gw']);

    const noProbe = await cli(['verify', '-i', hostGw, '--json']);
    expect(noProbe.code, show(noProbe)).toBe(3);
    expect(parseReport(noProbe).pairs.every((p) => p.target === null && /--probe/.test(p.error!))).toBe(true);

    const v = await cli(['verify', '-i', hostGw, '--probe']);
    expect(v.code, show(v)).toBe(0);
    expect(v.stdout).toContain('Reachability over the overlay (host-gw): 6/6 pairs ok');
    expect(v.stdout).toMatch(/temporary flanctl-probe \((bridge|dummy)\) holding the node's FLANNEL_SUBNET \.1 was added on node1, node2, node3 .* removed afterwards/);
    for (const n of lab.nodes) {
      const link = await lab.exec(n.name, ['ip', '-j', 'link', 'show']);
      expect(link.code).toBe(0);
      expect((JSON.parse(link.stdout) as Array<{ ifname: string }>).map((l) => l.ifname)).not.toContain('flanctl-probe');
    }
    const j = await cli(['verify', '-i', hostGw, '--probe', '--mtu', '--json']);
    expect(j.code, show(j)).toBe(0);
    const report = parseReport(j);
    expect(report.pairs.every((p) => p.ok && /^10\.244\.\d+\.1$/.test(p.target!))).toBe(true);
    expect(report.probes.every((p) => p.removed)).toBe(true);
    expect(report.checks.filter((c) => c.name === 'mtu').every((c) => c.ok)).toBe(true);
  }, 300_000);
});
