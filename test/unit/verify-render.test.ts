import { describe, expect, it } from 'vitest';
import { renderJunit, xmlEscape } from '../../src/verify/junit.js';
import { failureNames, renderChecks, renderMatrix, renderReport, renderSummary } from '../../src/verify/matrix.js';
import { parsePingOutput, pingArgv, PING_SCRIPT } from '../../src/verify/probes.js';
import type { VerifyReport } from '../../src/verify/verify.js';

function report(): VerifyReport {
  const pairs = [
    { from: 'node1', to: 'node2', target: '10.244.2.0', ok: true, rttMs: 0.123, error: null },
    { from: 'node1', to: 'node3', target: '10.244.3.0', ok: false, rttMs: null, error: 'no reply within 1 s' },
    { from: 'node2', to: 'node1', target: '10.244.1.0', ok: true, rttMs: 12.5, error: null },
    { from: 'node2', to: 'node3', target: null, ok: false, rttMs: null, error: 'node3 has no lease in etcd' },
    { from: 'node3', to: 'node1', target: '10.244.1.0', ok: true, rttMs: 0.2, error: null },
    { from: 'node3', to: 'node2', target: '10.244.2.0', ok: true, rttMs: 0.2, error: null },
  ];
  const checks = [
    { node: 'node1', name: 'service', ok: true, detail: 'flanneld RUNNING' },
    { node: 'node1', name: 'routes', ok: false, detail: 'missing 10.244.3.0/24 via 10.244.3.0 dev flannel.1 onlink (node3)' },
    { node: 'node2', name: 'service', ok: true, detail: 'flanneld RUNNING' },
    { node: 'node2', name: 'healthz', ok: true, skipped: true, detail: 'skipped: no http client' },
    { node: 'node3', name: 'service', ok: false, detail: 'flanneld STOPPED <&> "x"' },
  ];
  return {
    backend: 'vxlan', nodes: ['node1', 'node2', 'node3'], pairs, checks, probes: [],
    summary: { pairs: 6, pairsOk: 4, checks: 5, checksOk: 3 }, ok: false, durationMs: 1234,
  };
}

describe('human renderer', () => {
  it('matrix: rows from, columns to, ✓ with RTT, ✗, · on the diagonal, failures listed', () => {
    const text = renderMatrix(report());
    const lines = text.split('\n');
    expect(lines[0]).toBe('Reachability over the overlay (vxlan): 4/6 pairs ok');
    expect(lines[1].split(/\s{2,}/)).toEqual(['from \\ to', 'node1', 'node2', 'node3']);
    const row1 = lines[2].split(/\s{2,}/);
    expect(row1).toEqual(['node1', '·', '✓ 0.12ms', '✗']);
    expect(lines[3].split(/\s{2,}/)).toEqual(['node2', '✓ 12.5ms', '·', '? no target']);
    expect(text).toContain('✗ node1 → node3 (10.244.3.0): no reply within 1 s');
    expect(text).toContain('✗ node2 → node3: node3 has no lease in etcd');
    // columns line up: every cell of a column starts at the same offset
    expect(lines[2].indexOf('✓')).toBe(lines[1].indexOf('node2'));
  });

  it('check table expands failures only', () => {
    const text = renderChecks(report());
    expect(text).toContain('Health checks: 3/5 ok');
    expect(text).toMatch(/node1\s+✗ 1\/2 ok\n\s+✗ routes: missing 10\.244\.3\.0\/24/);
    expect(text).toMatch(/node2\s+✓ 2\/2 ok \(1 skipped\)\s+service, healthz/);
    expect(text).not.toContain('flanneld RUNNING');
  });

  it('summary names what failed; ok summary is one line', () => {
    const r = report();
    expect(failureNames(r)).toEqual(['node1: routes', 'node3: service', 'node1 → node3', 'node2 → node3']);
    expect(renderSummary(r)).toBe('verify: FAILED — 4/6 pairs, 3/5 checks ok in 1.2 s; failed: node1: routes, node3: service, node1 → node3, node2 → node3');
    expect(renderSummary({ ...r, ok: true })).toMatch(/^verify: ok — 3 nodes/);
    expect(renderReport(r)).toContain('Health checks');
  });
});

describe('JUnit renderer', () => {
  it('one testcase per pair and per check, failures and skips counted, text escaped', () => {
    const xml = renderJunit(report());
    expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>')).toBe(true);
    expect(xml.match(/<testcase /g)).toHaveLength(11);
    expect(xml.match(/<failure /g)).toHaveLength(4);
    expect(xml.match(/<skipped /g)).toHaveLength(1);
    expect(xml).toMatch(/<testsuites name="flanctl verify" tests="11" failures="4"/);
    expect(xml).toMatch(/<testsuite name="reachability" tests="6" failures="2" errors="0" skipped="0"/);
    expect(xml).toMatch(/<testsuite name="checks" tests="5" failures="2" errors="0" skipped="1"/);
    expect(xml).toContain('name="node1 -&gt; node3 (10.244.3.0)"');
    expect(xml).toContain('message="flanneld STOPPED &lt;&amp;&gt; &quot;x&quot;"');
    expect(xml).not.toMatch(/<&>/);
    expect(xmlEscape("a'b\u0001")).toBe('a&apos;b');
  });
});

describe('ping script output', () => {
  it('argv carries source, size and targets; output gives RTTs and one-line errors', () => {
    expect(pingArgv(['10.244.2.0'], { source: '10.244.1.1', size: 1422 })).toEqual(['sh', '-c', PING_SCRIPT, 'flanctl-ping', '10.244.1.1', '1422', '10.244.2.0']);
    const out = [
      '@@flanctl-ping 10.244.2.0 0', 'PING 10.244.2.0 (10.244.2.0) 56(84) bytes of data.', '64 bytes from 10.244.2.0: icmp_seq=1 ttl=64 time=0.412 ms', '',
      '@@flanctl-ping 10.244.3.0 1', 'PING 10.244.3.0 (10.244.3.0) 56(84) bytes of data.', '', '--- 10.244.3.0 ping statistics ---', '1 packets transmitted, 0 received, 100% packet loss, time 0ms',
      '@@flanctl-ping 10.244.4.0 2', 'ping: connect: Network is unreachable',
      '@@flanctl-ping 10.244.5.0 1', 'From 10.244.1.0 icmp_seq=1 Frag needed and DF set (mtu = 1400)',
    ].join('\n');
    expect(parsePingOutput(out, ['10.244.2.0', '10.244.3.0', '10.244.4.0', '10.244.5.0', '10.244.6.0'])).toEqual([
      { target: '10.244.2.0', ok: true, rttMs: 0.412 },
      { target: '10.244.3.0', ok: false, error: 'no reply within 1 s' },
      { target: '10.244.4.0', ok: false, error: 'ping: connect: Network is unreachable' },
      { target: '10.244.5.0', ok: false, error: 'Frag needed and DF set (mtu = 1400)' },
      { target: '10.244.6.0', ok: false, error: 'no result from the ping script' },
    ]);
  });
});

describe('summary with many failures', () => {
  it('names the first 16 and counts the rest', () => {
    const nodes = Array.from({ length: 6 }, (_, i) => `n${i + 1}`);
    const pairs = nodes.flatMap((from) => nodes.filter((to) => to !== from).map((to) => ({ from, to, target: null, ok: false, rttMs: null, error: 'x' })));
    const r: VerifyReport = { backend: 'host-gw', nodes, pairs, checks: [], probes: [], summary: { pairs: 30, pairsOk: 0, checks: 0, checksOk: 0 }, ok: false, durationMs: 10 };
    const line = renderSummary(r);
    expect(line).toContain('n1 → n2');
    expect(line).toContain('… and 14 more (listed above)');
    expect(line.split('failed: ')[1].split(', ')).toHaveLength(17);
  });
});
