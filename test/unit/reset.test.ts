import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tlsSources } from '../../src/reset/reset-tls.js';
import { fakeConnector, type FakeConnector } from '../../src/connector/fake.js';
import { converge } from '../../src/engine/engine.js';
import type { Inventory } from '../../src/model/inventory.js';
import { configKey, leaseKey } from '../../src/model/leases.js';
import { resetEtcdStep, resetFileLists, resetNodeSteps } from '../../src/reset/reset.js';
import { iptablesCleanup, iptablesCleanupArgv, splitRuleLine } from '../../src/reset/reset-iptables.js';
import type { IpRoute } from '../../src/switch/iproute.js';
import { memoryKv, testInventory } from './switch-fakes.js';

const NAT = `# Warning: iptables-legacy tables present, use iptables-legacy to see them
-P PREROUTING ACCEPT
-P POSTROUTING ACCEPT
-N FLANNEL-POSTRTG
-N DOCKER
-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG
-A POSTROUTING -s 10.244.1.0/24 ! -d 10.244.0.0/16 ! -o docker0 -m comment --comment flanctl -j MASQUERADE
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A POSTROUTING -s 10.9.0.0/16 -m comment --comment "flanctl-like but not ours" -j RETURN
-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully`;
const FILTER = `-P FORWARD DROP
-N FLANNEL-FWD
-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD
-A FORWARD -s 10.244.0.0/16 -m comment --comment flanctl -j ACCEPT
-A FORWARD -d 10.244.0.0/16 -m comment --comment flanctl -j ACCEPT
-A FORWARD -i eth9 -j ACCEPT
-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT`;

/** The local pki dir bootstrap uploads from: reset removes a node's TLS files only when they match it. */
const pkiTmp = mkdtempSync(join(tmpdir(), 'flanctl-reset-pki-'));
afterAll(() => rmSync(pkiTmp, { recursive: true, force: true }));
function withPki(inv: Inventory): Inventory {
  mkdirSync(join(pkiTmp, 'pki'), { recursive: true });
  for (const f of ['ca.pem', 'flanneld.pem', 'flanneld-key.pem']) writeFileSync(join(pkiTmp, 'pki', f), `local ${f}\n`);
  return { ...inv, pki: { ...inv.pki, dir: join(pkiTmp, 'pki') } };
}

describe('iptables cleanup for reset', () => {
  it('splits quoted comments like iptables prints them', () => {
    expect(splitRuleLine('-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG')).toEqual(['-A', 'POSTROUTING', '-m', 'comment', '--comment', 'flanneld masq', '-j', 'FLANNEL-POSTRTG']);
    expect(splitRuleLine('-A X -m comment --comment "a \\"b\\"" -j Y')).toContain('a "b"');
  });

  it('removes only flanctl-commented rules and the FLANNEL-* chains with their jumps', () => {
    const nat = iptablesCleanup('nat', NAT);
    expect(nat.rules.map((r) => [r.why, r.rule.chain, r.rule.spec.at(-1)])).toEqual([
      ['jump', 'POSTROUTING', 'FLANNEL-POSTRTG'],
      ['flanctl', 'POSTROUTING', 'MASQUERADE'],
    ]);
    expect(nat.chains).toEqual([{ table: 'nat', chain: 'FLANNEL-POSTRTG' }]);
    const argv = iptablesCleanupArgv(iptablesCleanup('filter', FILTER));
    expect(argv).toEqual([
      ['iptables', '-w', '5', '-t', 'filter', '-D', 'FORWARD', '-m', 'comment', '--comment', 'flanneld forward', '-j', 'FLANNEL-FWD'],
      ['iptables', '-w', '5', '-t', 'filter', '-D', 'FORWARD', '-s', '10.244.0.0/16', '-m', 'comment', '--comment', 'flanctl', '-j', 'ACCEPT'],
      ['iptables', '-w', '5', '-t', 'filter', '-D', 'FORWARD', '-d', '10.244.0.0/16', '-m', 'comment', '--comment', 'flanctl', '-j', 'ACCEPT'],
      ['iptables', '-w', '5', '-t', 'filter', '-F', 'FLANNEL-FWD'],
      ['iptables', '-w', '5', '-t', 'filter', '-X', 'FLANNEL-FWD'],
    ]);
  });
});

/** A node after bootstrap (supervisord), acting on its own state. */
function fakeNode(inv: Inventory) {
  const lists = resetFileLists(inv);
  const files = new Set<string>([...lists.files, '/etc/supervisor/conf.d/flanneld.conf', '/var/log/flanneld/flanneld.log', '/var/log/flanneld/flanneld.log.1', '/var/log/flanneld/flanctl-iptables.log', '/etc/flannel/operator-notes.txt']);
  const dirs = new Set<string>([...lists.dirs, '/etc/supervisor/conf.d', '/etc/sysctl.d']);
  const programs = new Map([['flanneld', 'RUNNING'], ['flanctl-iptables', 'RUNNING']]);
  const tables: Record<string, string[]> = { nat: NAT.split('\n'), filter: FILTER.split('\n') };
  const links = new Set(['lo', 'eth0', 'docker0', 'flannel.1', 'flanctl-probe']);
  let routes: IpRoute[] = [
    { dst: '10.77.0.0/24', dev: 'eth0', protocol: 'kernel', scope: 'link' },
    { dst: '10.244.1.0/24', dev: 'docker0', protocol: 'kernel', scope: 'link' },
    { dst: '10.244.2.0/24', gateway: '10.244.2.0', dev: 'flannel.1', flags: ['onlink'] },
    { dst: '10.244.3.0/24', gateway: '10.77.0.13', dev: 'eth0' },
  ];
  const children = (d: string) => [...files, ...dirs].filter((p) => p.startsWith(`${d}/`) && !p.slice(d.length + 1).includes('/'));
  const c: FakeConnector = fakeConnector({ name: 'node1' });
  /** Remote TLS files with content flanctl did not upload (e.g. the operator's own CA). */
  const foreign = new Set<string>();
  const tls = tlsSources(inv);
  c.on(['sha256sum', '--'], (argv) => {
    const p = argv[2];
    if (!files.has(p)) return { code: 1, stderr: 'No such file or directory' };
    const local = tls.get(p);
    const content = local && existsSync(local) && !foreign.has(p) ? readFileSync(local) : Buffer.from(`remote ${p}`);
    return { stdout: `${createHash('sha256').update(content).digest('hex')}  ${p}\n` };
  });
  c.on(['stat'], (argv) => ({ stdout: argv.slice(4).filter((p) => files.has(p) || dirs.has(p)).map((p) => `${dirs.has(p) ? 'directory' : 'regular file'}|${p}`).join('\n') }));
  c.on(['ls', '-A', '--'], (argv) => ({ stdout: children(argv[3]).map((p) => p.slice(argv[3].length + 1)).join('\n') }));
  c.on(['rm', '-f', '--'], (argv) => (argv.slice(3).forEach((f) => files.delete(f)), {}));
  c.on(['rmdir', '--'], (argv) => (children(argv[2]).length ? { code: 1, stderr: 'Directory not empty' } : (dirs.delete(argv[2]), {})));
  c.on(['supervisorctl', 'status'], (argv) => ({
    code: 3,
    stdout: argv.slice(2).map((n) => (programs.has(n) ? `${n}  ${programs.get(n)}   pid 42, uptime 0:01:00` : `${n}: ERROR (no such process)`)).join('\n'),
  }));
  c.on(['supervisorctl', 'stop'], (argv) => (argv.slice(2).forEach((n) => programs.set(n, 'STOPPED')), {}));
  c.on(['supervisorctl', 'update'], () => {
    if (!files.has('/etc/supervisor/conf.d/flanneld.conf')) programs.clear();
    return {};
  });
  c.on(['iptables', '-w', '5', '-t'], (argv) => {
    const t = tables[argv[4]];
    const op = argv[5];
    if (op === '-S') return { stdout: t.join('\n') };
    if (op === '-D') {
      const line = `-A ${argv[6]} ${argv.slice(7).map((a) => (a.includes(' ') ? `"${a}"` : a)).join(' ')}`;
      const i = t.indexOf(line);
      if (i < 0) return { code: 1, stderr: 'Bad rule (does a matching rule exist in that chain?).' };
      t.splice(i, 1);
      return {};
    }
    if (op === '-F') return (tables[argv[4]] = t.filter((l) => !l.startsWith(`-A ${argv[6]} `))), {};
    if (op === '-X') return (tables[argv[4]] = t.filter((l) => l !== `-N ${argv[6]}`)), {};
    return { code: 2 };
  });
  c.on(['ip', '-j', 'link', 'show'], () => ({ stdout: JSON.stringify([...links].map((ifname) => ({ ifname }))) }));
  c.on(['ip', '-4', '-j', 'route', 'show', 'table', 'main'], () => ({ stdout: JSON.stringify(routes) }));
  c.on(['ip', 'link', 'del'], (argv) => {
    links.delete(argv[3]);
    routes = routes.filter((r) => r.dev !== argv[3]);
    return {};
  });
  c.on(['ip', 'route', 'del'], (argv) => {
    const before = routes.length;
    routes = routes.filter((r) => r.dst !== argv[3]);
    return before === routes.length ? { code: 2, stderr: 'RTNETLINK answers: No such process' } : {};
  });
  return { c, files, dirs, programs, tables, links, foreign, get routes() { return routes; } };
}

describe('reset steps', () => {
  it('removes the service, flanctl rules, flannel chains, devices, routes and files; a second reset changes nothing', async () => {
    const inv = withPki(await testInventory());
    const node = fakeNode(inv);
    const kv = memoryKv();
    await kv.put(configKey(inv.etcd.prefix), '{"Network":"10.244.0.0/16"}');
    await kv.put(leaseKey(inv.etcd.prefix, '10.244.1.0/24'), '{"PublicIP":"10.77.0.11"}');
    await kv.put('/other/key', 'keep');
    const targets = () => [
      { name: 'node1', steps: resetNodeSteps(inv), open: async () => ({ inventory: inv, node: inv.nodes[0], conn: node.c }) },
      { name: 'etcd', steps: [resetEtcdStep(inv)], open: async () => ({ inventory: inv, kv }) },
    ];
    const first = await converge(targets(), { command: 'reset', mode: 'apply', output: 'silent' });
    expect(first.summary.failed).toBe(0);
    expect(first.summary.changed).toBe(5);

    expect(node.programs.size).toBe(0);
    expect([...node.files].filter((f) => !f.startsWith('/etc/flannel/operator-notes'))).toEqual([]);
    expect(node.dirs.has('/etc/flannel')).toBe(true); // still holds a file flanctl did not write
    expect(node.dirs.has('/opt/flannel/bin')).toBe(false);
    expect(node.dirs.has('/opt/flannel')).toBe(false);
    expect(node.dirs.has('/var/log/flanneld')).toBe(false);
    expect(node.dirs.has('/etc/supervisor/conf.d')).toBe(true);
    expect(node.tables.nat.join('\n')).not.toMatch(/FLANNEL|comment flanctl /);
    expect(node.tables.nat).toContain('-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE');
    expect(node.tables.nat).toContain('-A POSTROUTING -s 10.9.0.0/16 -m comment --comment "flanctl-like but not ours" -j RETURN');
    expect(node.tables.filter).toEqual(['-P FORWARD DROP', '-A FORWARD -i eth9 -j ACCEPT']);
    expect([...node.links]).toEqual(['lo', 'eth0', 'docker0']);
    expect(node.routes.map((r) => r.dst)).toEqual(['10.77.0.0/24', '10.244.1.0/24']);
    expect([...kv.data.keys()]).toEqual(['/other/key']);

    const second = await converge(targets(), { command: 'reset', mode: 'apply', output: 'silent' });
    expect(second.summary).toMatchObject({ changed: 0, failed: 0 });
  });

  it('check mode plans every removal and changes nothing', async () => {
    const inv = await testInventory();
    const node = fakeNode(inv);
    const report = await converge([{ name: 'node1', steps: resetNodeSteps(inv), open: async () => ({ inventory: inv, node: inv.nodes[0], conn: node.c }) }], { command: 'reset', mode: 'check', output: 'silent' });
    expect(report.summary.changed).toBe(4);
    const summaries = report.targets[0].steps.map((s) => s.change?.summary ?? '').join('\n');
    expect(summaries).toMatch(/stop flanneld, flanctl-iptables/);
    expect(summaries).toMatch(/3 flanctl rules, 2 jumps into FLANNEL-\* chains/);
    expect(summaries).toMatch(/delete flannel\.1, flanctl-probe, 2 route/);
    expect(node.programs.get('flanneld')).toBe('RUNNING');
    expect(node.links.has('flannel.1')).toBe(true);
    expect(node.c.execs().filter((a) => a[0] === 'rm' || a[0] === 'rmdir' || (a[0] === 'iptables' && a[5] !== '-S') || (a[0] === 'ip' && a.includes('del')))).toEqual([]);
  });
});

describe('reset keeps TLS files flanctl did not write (issue 12)', () => {
  it('a ca.pem that differs from the local one, or with no local record, stays; the matching ones go', async () => {
    const inv = withPki(await testInventory());
    const node = fakeNode(inv);
    node.foreign.add('/etc/flannel/ca.pem');
    const report = await converge([{ name: 'node1', steps: resetNodeSteps(inv), open: async () => ({ inventory: inv, node: inv.nodes[0], conn: node.c }) }], { command: 'reset', mode: 'apply', output: 'silent' });
    expect(report.summary.failed).toBe(0);
    expect(report.targets[0].steps.map((s) => s.change?.summary ?? '').join('\n')).toMatch(/keep \/etc\/flannel\/ca\.pem \(differs from .*ca\.pem, which flanctl uploads\)/);
    expect(node.files.has('/etc/flannel/ca.pem')).toBe(true);
    expect(node.files.has('/etc/flannel/flanneld.pem')).toBe(false);
    expect(node.files.has('/etc/flannel/flanneld-key.pem')).toBe(false);

    const noRecord = await testInventory(); // pki.dir /lab/pki does not exist here
    const other = fakeNode(noRecord);
    await converge([{ name: 'node1', steps: resetNodeSteps(noRecord), open: async () => ({ inventory: noRecord, node: noRecord.nodes[0], conn: other.c }) }], { command: 'reset', mode: 'apply', output: 'silent' });
    expect(['/etc/flannel/ca.pem', '/etc/flannel/flanneld.pem', '/etc/flannel/flanneld-key.pem'].filter((f) => other.files.has(f))).toHaveLength(3);
  });
});
