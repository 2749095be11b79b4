/**
 * `flanctl verify --html FILE`: one self-contained HTML page rendered from the same report object
 * that --json prints (and embedded in the page as JSON). No script, font, image or stylesheet is
 * loaded from anywhere: the page works offline and from file://. Sections: summary cards (result,
 * time of the run, backend, flanneld versions), the N×N reachability grid (RTT as shade, failures red,
 * the error in each cell's title), the per-node table (failing nodes first: every check, flanneld
 * version, lease, cert expiry), unreachable pairs, probe interfaces, and any further section of the
 * report this renderer does not know (html-extra.ts), so additions to the report still show.
 */
import { formatTtl, type Check } from './checks.js';
import { countExtraFailures, renderExtraSections } from './html-extra.js';
import { STYLE } from './html-style.js';
import type { NodeInfo } from './node-info.js';
import type { PairResult, VerifyReport } from './verify.js';

export const esc = (s: unknown) =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** Keys of the report rendered by their own section; everything else goes to renderExtraSections. */
const KNOWN = new Set(['backend', 'nodes', 'pairs', 'checks', 'probes', 'summary', 'ok', 'startedAt', 'nodeInfo', 'durationMs']);

const ms = (v: number) => (v < 10 ? v.toFixed(2) : v.toFixed(1)) + ' ms';
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** RTT as a shade of green: light for the fastest pair of the run, dark for the slowest (log scale). */
export function rttShade(rtt: number | null, min: number, max: number): string {
  if (rtt === null || !(max > min)) return 'hsl(140, 50%, 55%)';
  const t = (Math.log(rtt) - Math.log(min)) / (Math.log(max) - Math.log(min));
  const light = 78 - Math.min(1, Math.max(0, t)) * 50;
  return `hsl(140, 55%, ${light.toFixed(1)}%)`;
}

function cardsHtml(report: VerifyReport, failures: number): string {
  const { pairs, pairsOk, checks, checksOk } = report.summary;
  const versions = new Map<string, number>();
  for (const i of report.nodeInfo ?? []) versions.set(i.flanneldVersion ?? 'not read', (versions.get(i.flanneldVersion ?? 'not read') ?? 0) + 1);
  const versionText = [...versions].map(([v, n]) => (versions.size > 1 ? `${v} ×${n}` : v)).join(', ') || 'not reported';
  const card = (k: string, v: string, bad = false, id = '') => `<div class="card${bad ? ' bad' : ''}"${id ? ` id="${id}"` : ''}><div class="k">${esc(k)}</div><div class="v">${v}</div></div>`;
  return `<div class="cards">
${card('Failures', `<span id="failure-count">${failures}</span>`, failures > 0)}
${card('Pairs ok', `${pairsOk} / ${pairs}`, pairsOk < pairs)}
${card('Checks ok', `${checksOk} / ${checks}`, checksOk < checks)}
${card('Nodes', String(report.nodes.length))}
${card('Backend', esc(report.backend), false, 'backend')}
${card('flanneld', esc(versionText), versions.size > 1, 'versions')}
${card('Run took', `${(report.durationMs / 1000).toFixed(1)} s`)}
</div>`;
}

/** Grid rows/columns: every node in a pair (with --limit, peers outside it too), in the order verify planned them. */
const gridNodes = (report: VerifyReport) => [...new Set([...report.pairs.map((p) => p.from), ...report.pairs.map((p) => p.to), ...report.nodes])];

function gridHtml(report: VerifyReport): string {
  const nodes = gridNodes(report);
  const n = nodes.length;
  const byPair = new Map(report.pairs.map((p) => [`${p.from}\u0000${p.to}`, p]));
  const rtts = report.pairs.flatMap((p) => (p.ok && p.rttMs !== null && p.rttMs > 0 ? [p.rttMs] : []));
  const [min, max] = [Math.min(...rtts), Math.max(...rtts)];
  const size = n <= 24 ? 24 : n <= 48 ? 16 : n <= 100 ? 10 : 8;
  const glyphs = size >= 16;
  const cell = (from: string, to: string) => {
    if (from === to) return `<td class="cell self" title="${esc(from)}"></td>`;
    const p: PairResult | undefined = byPair.get(`${from}\u0000${to}`);
    const where = `${from} → ${to}${p?.target ? ` (${p.target})` : ''}`;
    if (!p) return `<td class="cell self" data-from="${esc(from)}" data-to="${esc(to)}" title="${esc(`${where}: not checked (outside --limit)`)}"></td>`;
    const attrs = `data-from="${esc(from)}" data-to="${esc(to)}"`;
    if (p.ok) {
      const title = `${where}: ${p.rttMs === null ? 'ok' : ms(p.rttMs)}`;
      return `<td class="cell ok" ${attrs} data-rtt="${p.rttMs ?? ''}" style="background:${rttShade(p.rttMs, min, max)}" title="${esc(title)}"></td>`;
    }
    const cls = p.target ? 'fail' : 'notarget';
    return `<td class="cell ${cls}" ${attrs} title="${esc(`${where}: ${p.target ? 'FAILED' : 'no target'} — ${p.error ?? 'unreachable'}`)}">${glyphs ? (p.target ? '✗' : '?') : ''}</td>`;
  };
  const failedFrom = new Set(report.pairs.filter((p) => !p.ok).flatMap((p) => [p.from, p.to]));
  const head = nodes.map((to) => `<th class="col${failedFrom.has(to) ? ' bad' : ''}"><span>${esc(to)}</span></th>`).join('');
  const rows = nodes.map((from) => `<tr><th class="row${failedFrom.has(from) ? ' bad' : ''}">${esc(from)}</th>${nodes.map((to) => cell(from, to)).join('')}</tr>`);
  const legend = rtts.length
    ? `<span><span class="ramp" style="background:linear-gradient(90deg, ${rttShade(min, min, max)}, ${rttShade(max, min, max)})"></span></span><span>RTT ${ms(min)} … ${ms(max)}</span>`
    : '';
  return `<div class="grid-wrap"><table class="grid" id="matrix" style="--cell:${size}px">
<tr><th class="corner">from ↓ to →</th>${head}</tr>
${rows.join('\n')}
</table></div>
<div class="legend">${legend}<span><span class="swatch" style="background:var(--fail)"></span>unreachable</span><span><span class="swatch" style="background:var(--warn)"></span>no target</span><span><span class="swatch" style="background:#f3f4f6;border:1px solid #ddd"></span>self</span><span>Hover a cell for the pair, address, RTT or error.</span></div>`;
}

function daysLeft(iso: string, at: number): number {
  return Math.floor((Date.parse(iso) - at) / 86_400_000);
}

function nodesHtml(report: VerifyReport): string {
  const names = [...new Set(report.checks.map((c) => c.name))];
  const at = report.startedAt ? Date.parse(report.startedAt) : Date.now();
  const info = new Map((report.nodeInfo ?? []).map((i) => [i.node, i]));
  const all = [...report.nodes, ...new Set(report.checks.map((c) => c.node).filter((n) => !report.nodes.includes(n)))];
  const per = all.map((node) => ({ node, checks: report.checks.filter((c) => c.node === node) }));
  const failing = (cs: Check[]) => cs.filter((c) => !c.ok).length;
  per.sort((a, b) => Number(failing(b.checks) > 0) - Number(failing(a.checks) > 0));
  const mark = (cs: Check[]) => {
    if (!cs.length) return '<td class="c s" title="not checked">–</td>';
    const bad = cs.filter((c) => !c.ok);
    const title = cs.map((c) => c.detail).join('\n');
    if (bad.length) return `<td class="c n" title="${esc(title)}">✗</td>`;
    return cs.every((c) => c.skipped) ? `<td class="c s" title="${esc(title)}">skip</td>` : `<td class="c y" title="${esc(title)}">✓</td>`;
  };
  const counts = new Map<string, number>();
  for (const i of report.nodeInfo ?? []) if (i.flanneldVersion) counts.set(i.flanneldVersion, (counts.get(i.flanneldVersion) ?? 0) + 1);
  const usual = [...counts].sort((a, b) => b[1] - a[1])[0]?.[0];
  const infoCells = (i: NodeInfo | undefined) => {
    const lease = i?.lease;
    const odd = i?.flanneldVersion && usual && i.flanneldVersion !== usual;
    const cert = i?.certExpires;
    const certDays = cert ? daysLeft(cert, at) : undefined;
    return [
      `<td class="mono${odd ? ' bad' : ''}"${odd ? ` title="most nodes run ${esc(usual)}"` : ''}>${esc(i?.flanneldVersion ?? '–')}</td>`,
      `<td class="mono">${esc(lease?.subnet ?? 'no lease')}</td>`,
      `<td>${lease ? (lease.ageSeconds === null ? 'reservation' : `${esc(formatTtl(lease.ageSeconds))} ago`) : '–'}</td>`,
      `<td>${lease ? esc(formatTtl(lease.ttlSeconds ?? undefined)) : '–'}</td>`,
      `<td${certDays !== undefined && certDays < 30 ? ' class="bad"' : ''}>${cert ? `${esc(cert.slice(0, 10))} (${certDays} d)` : '–'}</td>`,
    ].join('');
  };
  const head = ['node', 'checks', 'flanneld', 'lease', 'lease age', 'lease expires in', 'cert expires', ...names];
  const rows = per.map(({ node, checks }) => {
    const bad = checks.filter((c) => !c.ok);
    const problems = bad.map((c) => `<div><b>${esc(c.name)}</b>: ${esc(c.detail)}</div>`).join('');
    const status = bad.length ? `<td class="n">✗ ${checks.length - bad.length}/${checks.length}</td>` : `<td class="y">✓ ${checks.length}/${checks.length}</td>`;
    const row = `<tr class="${bad.length ? 'failing' : 'passing'}" data-node="${esc(node)}"><td><b>${esc(node)}</b></td>${status}${infoCells(info.get(node))}${names.map((n) => mark(checks.filter((c) => c.name === n))).join('')}</tr>`;
    return bad.length ? `${row}\n<tr class="failing problems"><td></td><td class="detail" colspan="${head.length - 1}">${problems}</td></tr>` : row;
  });
  return `<table class="t" id="health"><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead>
<tbody>
${rows.join('\n')}
</tbody></table>
<p class="sub">Nodes with a failing check come first. Lease age: time since flanneld was granted or last renewed its 24 h lease. Hover a ✓/✗ for the check's detail; a failing node's problems are listed under its row.</p>`;
}

function pairFailuresHtml(report: VerifyReport): string {
  const bad = report.pairs.filter((p) => !p.ok);
  if (!bad.length) return '<p class="sub">Every node reached every other node.</p>';
  const rows = bad.map((p) => `<tr><td>${esc(p.from)}</td><td>${esc(p.to)}</td><td class="mono">${esc(p.target ?? 'no target')}</td><td class="detail">${esc(p.error ?? 'unreachable')}</td></tr>`);
  return `<details${bad.length <= 20 ? ' open' : ''}><summary>${plural(bad.length, 'unreachable pair')}</summary>
<table class="t" id="failed-pairs"><thead><tr><th>from</th><th>to</th><th>target</th><th>error</th></tr></thead><tbody>
${rows.join('\n')}
</tbody></table></details>`;
}

function probesHtml(report: VerifyReport): string {
  if (!report.probes?.length) return '';
  const rows = report.probes.map((p) => `<tr><td>${esc(p.node)}</td><td class="mono">${esc(p.iface)} ${esc(p.address)}</td><td>${esc(p.linkType ?? '')}</td><td>${p.removed ? 'removed' : '<b class="n">NOT removed</b>'}</td><td class="detail">${esc(p.error ?? '')}</td></tr>`);
  return `<h2>Probe interfaces <span class="count">(added for the check, removed afterwards)</span></h2>
<table class="t"><thead><tr><th>node</th><th>interface</th><th>kind</th><th>state</th><th>error</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/** The report as JSON inside the page, safe in a <script> element. */
const embedded = (report: unknown) => JSON.stringify(report).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');

export function renderHtml(report: VerifyReport): string {
  const failedPairs = report.pairs.filter((p) => !p.ok).length;
  const failedChecks = report.checks.filter((c) => !c.ok).length;
  const extra = Object.fromEntries(Object.entries(report).filter(([k]) => !KNOWN.has(k)));
  const failures = failedPairs + failedChecks + countExtraFailures(extra);
  const when = report.startedAt ? new Date(report.startedAt).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC') : 'time not recorded';
  const title = `flanctl verify — ${report.ok ? 'ok' : 'FAILED'} — ${report.nodes.length} nodes, ${report.backend}`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>${esc(title)}</title>
<style>${STYLE}</style>
</head>
<body data-ok="${report.ok}" data-failures="${failures}">
<h1>flanctl verify <span class="badge ${report.ok ? 'ok' : 'fail'}" id="result">${report.ok ? 'OK' : 'FAILED'}</span></h1>
<p class="sub">Run at <time id="started" datetime="${esc(report.startedAt ?? '')}">${esc(when)}</time> · ${plural(report.nodes.length, 'node')} · backend <b>${esc(report.backend)}</b> · ${plural(failedPairs, 'unreachable pair')}, ${plural(failedChecks, 'failed check')}</p>
${cardsHtml(report, failures)}
<h2>Reachability over the overlay <span class="count">(${report.summary.pairsOk}/${report.summary.pairs} pairs ok; rows ping columns)</span></h2>
${gridHtml(report)}
<h2>Nodes and health checks <span class="count">(${report.summary.checksOk}/${report.summary.checks} checks ok)</span></h2>
${nodesHtml(report)}
<h2>Unreachable pairs <span class="count">(${failedPairs})</span></h2>
${pairFailuresHtml(report)}
${probesHtml(report)}
${renderExtraSections(extra, esc)}
<footer>Written by <code>flanctl verify --html</code>. The same data as <code>flanctl verify --json</code> is embedded below (element <code>#report-data</code>).</footer>
<script type="application/json" id="report-data">${embedded(report)}</script>
</body></html>
`;
}
