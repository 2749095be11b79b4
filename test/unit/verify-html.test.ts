import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderHtml, rttShade } from '../../src/verify/html.js';
import { renderMatrix, renderReport } from '../../src/verify/matrix.js';
import { leaseInfo, parseFlanneldVersion } from '../../src/verify/node-info.js';
import type { VerifyReport } from '../../src/verify/verify.js';

const fixture = () => JSON.parse(readFileSync(new URL('../fixtures/verify-report-20.json', import.meta.url), 'utf8')) as VerifyReport;

function small(): VerifyReport {
  return {
    backend: 'vxlan', nodes: ['a', 'b'],
    pairs: [
      { from: 'a', to: 'b', target: '10.244.2.0', ok: true, rttMs: 0.2, error: null },
      { from: 'b', to: 'a', target: '10.244.1.0', ok: false, rttMs: null, error: 'no reply <script>alert(1)</script>' },
    ],
    checks: [{ node: 'a', name: 'service', ok: true, detail: 'RUNNING' }, { node: 'b', name: 'service', ok: false, detail: 'STOPPED & "gone"' }],
    probes: [], summary: { pairs: 2, pairsOk: 1, checks: 2, checksOk: 1 }, ok: false, durationMs: 10,
  };
}

describe('HTML report', () => {
  it('is self-contained: no external script, stylesheet, image, font or link', () => {
    const html = renderHtml(fixture());
    expect(html).not.toMatch(/<(link|img|iframe|object|embed)\b/i);
    expect(html).not.toMatch(/\b(src|href)\s*=/i);
    expect(html).not.toMatch(/url\(/i);
    expect(html).not.toMatch(/@import/i);
    expect(html).toContain("Content-Security-Policy\" content=\"default-src 'none'");
    expect(html.match(/<script\b[^>]*>/g)).toEqual(['<script type="application/json" id="report-data">']);
  });

  it('escapes report text in the page and in the embedded JSON', () => {
    const html = renderHtml(small());
    expect(html).not.toContain('<script>alert(1)');
    expect(html).toContain('no reply &lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('STOPPED &amp; &quot;gone&quot;');
    const json = /<script type="application\/json" id="report-data">([\s\S]*?)<\/script>/.exec(html)![1];
    expect(JSON.parse(json)).toEqual(small());
  });

  it('renders a report without the optional sections (older --json output)', () => {
    const html = renderHtml(small());
    expect(html).toContain('time not recorded');
    expect(html).toContain('<span id="failure-count">2</span>');
    expect(html.match(/<td class="cell /g)).toHaveLength(4);
  });

  it('renders sections it does not know generically, failures first', () => {
    const r = { ...small(), pods: { checked: 3, podNetworks: [{ node: 'a', pod: 'x', ok: true }, { node: 'b', pod: 'y', ok: false, error: 'no route' }] } } as unknown as VerifyReport;
    const html = renderHtml(r);
    expect(html).toContain('<section class="extra" data-section="pods">');
    expect(html).toContain('<h2>pods</h2>');
    expect(html).toContain('<h3>pod networks</h3>');
    const table = html.slice(html.indexOf('<h3>pod networks</h3>'));
    expect(table.indexOf('no route')).toBeLessThan(table.indexOf('>x<'));
    expect(html).toMatch(/<th>checked<\/th><td>3<\/td>/);
  });

  it('with --limit, draws the peers outside the limit too and leaves their own pairs blank', () => {
    const r: VerifyReport = {
      ...small(), nodes: ['b'],
      pairs: [
        { from: 'a', to: 'b', target: '10.244.2.0', ok: true, rttMs: 0.2, error: null },
        { from: 'b', to: 'a', target: '10.244.1.0', ok: true, rttMs: 0.3, error: null },
        { from: 'b', to: 'c', target: '10.244.3.0', ok: true, rttMs: 0.3, error: null },
        { from: 'c', to: 'b', target: '10.244.2.0', ok: true, rttMs: 0.3, error: null },
      ],
    };
    const html = renderHtml(r);
    expect(html.match(/<th class="row">/g)).toHaveLength(3);
    expect(html.match(/<td class="cell ok"/g)).toHaveLength(4);
    expect(html).toContain('title="a → c: not checked (outside --limit)"');
  });

  it('shows a pods section (verify --pods) as tables and counts its failures', () => {
    const pods = {
      via: 'runtime', ok: false, durationMs: 900,
      pods: [{ node: 'a', ip: '10.244.1.5', via: 'runtime', bridge: 'cni0', bridgeCreated: true, removed: true }],
      pairs: [{ from: 'a', to: 'b', ok: false, sourcePreserved: false, seenSource: null, error: 'nothing arrived' }],
      checks: [{ node: 'a', name: 'masquerade out', ok: true, detail: 'ok' }, { node: 'b', name: 'cleanup', ok: false, detail: 'veth left' }],
      summary: { pairs: 1, pairsOk: 0, sourcePreserved: 0, checks: 2, checksOk: 1 },
    };
    const html = renderHtml({ ...small(), pods } as VerifyReport);
    expect(html).toContain('<span id="failure-count">4</span>');
    const section = html.slice(html.indexOf('data-section="pods"'));
    expect(section).toContain('<th>seen source</th>');
    expect(section).toContain('nothing arrived');
    expect(section).toContain('veth left');
    expect(section.indexOf('veth left')).toBeLessThan(section.indexOf('masquerade out'));
  });

  it('shrinks the grid cells as the cluster grows (100 nodes fit a 1400 px page)', () => {
    const grid = (n: number) => {
      const nodes = Array.from({ length: n }, (_, i) => `n${i + 1}`);
      const pairs = nodes.flatMap((from) => nodes.filter((to) => to !== from).map((to) => ({ from, to, target: '10.0.0.0', ok: true, rttMs: 0.1, error: null })));
      return /id="matrix" style="--cell:(\d+)px"/.exec(renderHtml({ ...small(), nodes, pairs }))![1];
    };
    expect([grid(3), grid(20), grid(40), grid(100), grid(150)]).toEqual(['24', '24', '16', '10', '8']);
  });

  it('shades faster pairs lighter', () => {
    const light = (s: string) => Number(/(\d+(?:\.\d+)?)%\)$/.exec(s)![1]);
    expect(light(rttShade(0.1, 0.1, 2))).toBeGreaterThan(light(rttShade(2, 0.1, 2)));
    expect(light(rttShade(0.5, 0.1, 2))).toBeGreaterThan(light(rttShade(1, 0.1, 2)));
  });
});

describe('node facts for the report', () => {
  it('reads the version from flanneld -version output and the lease age from its ttl', () => {
    expect(parseFlanneldVersion('v0.20.2\n')).toBe('v0.20.2');
    expect(parseFlanneldVersion('\nflanneld v0.11.0 (stand-in)\n')).toBe('v0.11.0');
    expect(parseFlanneldVersion('')).toBeNull();
    expect(leaseInfo({ key: 'k', subnet: '10.244.1.0/24', publicIp: '1.2.3.4', ttl: 80_000, value: '' })).toEqual({ subnet: '10.244.1.0/24', ttlSeconds: 80_000, ageSeconds: 6_400 });
    expect(leaseInfo({ key: 'k', subnet: '10.244.1.0/24', publicIp: '1.2.3.4', value: '' })).toEqual({ subnet: '10.244.1.0/24', ttlSeconds: null, ageSeconds: null });
    expect(leaseInfo(undefined)).toBeNull();
  });
});

describe('compact terminal matrix', () => {
  it('keeps the full matrix when it fits and switches to one line per node when it does not', () => {
    const r = fixture();
    const wide = renderMatrix(r, 1000).split('\n');
    expect(wide[1].startsWith('from \\ to')).toBe(true);
    const text = renderMatrix(r, 120);
    const lines = text.split('\n');
    expect(lines[0]).toBe('Reachability over the overlay (vxlan): 341/380 pairs ok (one line per node: the matrix is wider than 120 columns)');
    expect(lines.slice(1, 21).map((l) => l.split(/\s+/)[0])).toEqual(r.nodes);
    expect(lines[1]).toBe('node01  ✗ 18/19  failed to reach: node07');
    expect(lines[7]).toBe('node07  ✗ 0/19  failed to reach any peer');
    expect(lines[2]).toBe('node02  ✗ 18/19  failed to reach: node07');
    expect(lines.find((l) => l.startsWith('node16'))).toBe('node16  ✗ 17/19  failed to reach: node04, node07');
    expect(text.match(/^ {2}✗ /gm)).toHaveLength(20);
    expect(text).toContain('  … and 19 more failed pairs (all of them: --json or --html)');
    expect(renderReport(r, 120)).toContain('failed to reach');
  });

  it('names at most 8 failed peers per node', () => {
    const r = fixture();
    r.pairs = r.pairs.map((p) => (p.from === 'node01' ? { ...p, ok: p.to === 'node02', error: 'x' } : p));
    expect(renderMatrix(r, 80).split('\n')[1]).toBe('node01  ✗ 1/19  failed to reach: node03, node04, node05, node06, node07, node08, node09, node10, … 10 more');
  });

  it('marks a node whose every pair works with ✓', () => {
    const r = fixture();
    r.pairs = r.pairs.map((p) => ({ ...p, ok: true, error: null }));
    expect(renderMatrix(r, 80).split('\n')[1]).toBe('node01  ✓ 19/19');
  });
});
