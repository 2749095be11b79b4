/**
 * Human output of verify: the reachability matrix (rows = from, columns = to, ✓/✗ with RTT; one line
 * per node with its failed peers when the matrix is wider than the terminal), the check table with
 * only failures expanded, probe notes, and a one-line summary naming what failed.
 */
import type { VerifyReport } from './verify.js';
import { podFailureNames, renderPods } from './pods/render.js';

const pad = (s: string, n: number) => s + ' '.repeat(Math.max(0, n - [...s].length));

function cell(report: VerifyReport, from: string, to: string): string {
  if (from === to) return '·';
  const p = report.pairs.find((x) => x.from === from && x.to === to);
  if (!p) return '';
  if (!p.target) return '? no target';
  if (!p.ok) return '✗';
  return p.rttMs === null ? '✓' : `✓ ${p.rttMs < 10 ? p.rttMs.toFixed(2) : p.rttMs.toFixed(1)}ms`;
}

/** The terminal's width: stdout's columns on a terminal, else $COLUMNS, else 80. */
export function terminalWidth(): number {
  return process.stdout.columns || Number(process.env.COLUMNS) || 80;
}

/** Compact form: peers named per node, failed pairs listed in detail (the rest are in --json / --html). */
const COMPACT_PEERS = 8;
const COMPACT_DETAILS = 20;

/** One line per node: its outgoing pairs ok, and the peers it failed to reach. */
function compactRows(report: VerifyReport): string[] {
  const width = Math.max(...report.nodes.map((n) => [...n].length), 4) + 2;
  return report.nodes.map((from) => {
    const mine = report.pairs.filter((p) => p.from === from);
    const bad = mine.filter((p) => !p.ok).map((p) => (p.target ? p.to : `${p.to} (no target)`));
    const head = `${pad(from, width)}${bad.length ? '✗' : '✓'} ${mine.length - bad.length}/${mine.length}`;
    if (!bad.length) return head;
    if (bad.length === mine.length && bad.length > 1) return `${head}  failed to reach any peer`;
    const named = bad.length > COMPACT_PEERS ? [...bad.slice(0, COMPACT_PEERS), `… ${bad.length - COMPACT_PEERS} more`] : bad;
    return `${head}  failed to reach: ${named.join(', ')}`;
  });
}

export function renderMatrix(report: VerifyReport, width = terminalWidth()): string {
  const nodes = report.nodes;
  const head = ['from \\ to', ...nodes];
  const rows = nodes.map((from) => [from, ...nodes.map((to) => cell(report, from, to))]);
  const widths = head.map((h, i) => Math.max([...h].length, ...rows.map((r) => [...r[i]].length)) + 2);
  const line = (cols: string[]) => cols.map((c, i) => pad(c, widths[i])).join('').trimEnd();
  const { pairs, pairsOk } = report.summary;
  const title = `Reachability over the overlay (${report.backend}): ${pairsOk}/${pairs} pairs ok`;
  const fits = widths.reduce((a, b) => a + b, 0) - 2 <= width;
  const out = fits ? [title, line(head), ...rows.map(line)] : [`${title} (one line per node: the matrix is wider than ${width} columns)`, ...compactRows(report)];
  const failed = report.pairs.filter((p) => !p.ok);
  if (failed.length) {
    out.push('');
    const shown = fits || failed.length <= COMPACT_DETAILS ? failed : failed.slice(0, COMPACT_DETAILS);
    for (const p of shown) out.push(`  ✗ ${p.from} → ${p.to}${p.target ? ` (${p.target})` : ''}: ${p.error ?? 'failed'}`);
    if (shown.length < failed.length) out.push(`  … and ${failed.length - shown.length} more failed pairs (all of them: --json or --html)`);
  }
  return out.join('\n');
}

export function renderChecks(report: VerifyReport): string {
  const { checks, checksOk } = report.summary;
  const out = [`Health checks: ${checksOk}/${checks} ok`];
  const width = Math.max(...report.nodes.map((n) => n.length), 4) + 2;
  const nodes = [...report.nodes, ...new Set(report.checks.map((c) => c.node).filter((n) => !report.nodes.includes(n)))];
  for (const node of nodes) {
    const mine = report.checks.filter((c) => c.node === node);
    if (!mine.length) continue;
    const bad = mine.filter((c) => !c.ok);
    const skipped = mine.filter((c) => c.skipped).length;
    const note = skipped ? ` (${skipped} skipped)` : '';
    out.push(`${pad(node, width)}${bad.length ? '✗' : '✓'} ${mine.length - bad.length}/${mine.length} ok${note}${bad.length ? '' : `  ${mine.map((c) => c.name).join(', ')}`}`);
    for (const c of bad) out.push(`${' '.repeat(width + 2)}✗ ${c.name}: ${c.detail}`);
  }
  return out.join('\n');
}

export function renderProbes(report: VerifyReport): string | undefined {
  if (!report.probes.length) return undefined;
  const fine = report.probes.filter((p) => p.removed && !p.error);
  const lines = [];
  if (fine.length) {
    const kinds = [...new Set(fine.map((p) => p.linkType))].join('/');
    lines.push(`Probe: a temporary ${fine[0].iface} (${kinds}) holding the node's FLANNEL_SUBNET .1 was added on ${fine.map((p) => p.node).join(', ')} for the check and removed afterwards`);
  }
  for (const p of report.probes.filter((x) => !fine.includes(x))) {
    lines.push(`Probe: ${p.node}: ${p.iface} holding ${p.address}: ${p.error ?? 'problem'}${p.removed ? ' (removed)' : ' — NOT removed'}`);
  }
  return lines.join('\n');
}

/** What failed, by name: "node2: service", "node1: routes", "node1 → node3". */
export function failureNames(report: VerifyReport): string[] {
  return [
    ...report.checks.filter((c) => !c.ok).map((c) => `${c.node}: ${c.name}`),
    ...report.pairs.filter((p) => !p.ok).map((p) => `${p.from} → ${p.to}`),
    ...podFailureNames(report.pods),
  ];
}

/** The summary line names at most this many failures; the lists above it name all of them. */
const MAX_NAMED = 16;

export function renderSummary(report: VerifyReport): string {
  const { pairs, pairsOk, checks, checksOk } = report.summary;
  const secs = (report.durationMs / 1000).toFixed(1);
  const pods = report.pods && `, ${report.pods.summary.pairsOk}/${report.pods.summary.pairs} pod pairs, ${report.pods.summary.checksOk}/${report.pods.summary.checks} pod checks`;
  const counts = `${pairsOk}/${pairs} pairs, ${checksOk}/${checks} checks${pods ?? ''} ok in ${secs} s`;
  if (report.ok) return `verify: ok — ${report.nodes.length} nodes, ${counts}`;
  const names = failureNames(report);
  const shown = names.length > MAX_NAMED ? [...names.slice(0, MAX_NAMED), `… and ${names.length - MAX_NAMED} more (listed above)`] : names;
  return `verify: FAILED — ${counts}; failed: ${shown.join(', ')}`;
}

export function renderReport(report: VerifyReport, width = terminalWidth()): string {
  return [renderMatrix(report, width), '', renderChecks(report), renderProbes(report), report.pods && `\n${renderPods(report.pods)}`, '', renderSummary(report)]
    .filter((s) => s !== undefined)
    .join('\n');
}
