/**
 * switch-backend downtime (first stop → verify green, from the SwitchReport) on N lab nodes (default
 * 3,20): bootstrap on vxlan (not timed), then vxlan → host-gw and host-gw → vxlan, each timed by the
 * command itself, with its phases. Needs root (labs).
 */
import { distImport, flanctl, fmtMs, log, printTable, withLab } from './lib.mjs';

export const name = 'switch';
export const needsRoot = true;

function parse(r, what) {
  let report;
  try {
    report = JSON.parse(r.stdout);
  } catch {
    throw new Error(`${what}: --json output is not JSON (exit ${r.code}): ${(r.stderr || r.stdout).slice(-1500)}`);
  }
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}: ${report.message ?? report.error?.message ?? r.stderr.slice(-1500)}`);
  return report;
}

async function measure(lab) {
  const { ensureFlanneldCert } = await distImport('pki/index.js');
  await ensureFlanneldCert(lab.inv);
  parse(await flanctl(['bootstrap', '-i', lab.inventoryPath, '--json', '-y'], { timeoutMs: 30 * 60_000 }), 'flanctl bootstrap');
  const runs = [];
  for (const to of ['host-gw', 'vxlan']) {
    const r = await flanctl(['switch-backend', to, '-i', lab.inventoryPath, '--yes', '--json'], { timeoutMs: 30 * 60_000 });
    const rep = parse(r, `flanctl switch-backend ${to}`);
    runs.push({ to, wallMs: r.ms, downtimeMs: rep.downtimeMs, phasesMs: rep.phasesMs ?? {}, outcome: rep.outcome, maxRssKb: r.maxRssKb });
  }
  return runs;
}

export async function bench(opts) {
  const results = [];
  for (const n of opts.switchNodes) {
    if (n < 2) throw new Error(`--switch-nodes ${n}: a switch needs at least 2 nodes`);
    log(`N=${n}: lab up + bootstrap (not timed), then vxlan → host-gw → vxlan…`);
    const runs = await withLab(n, measure);
    for (const r of runs) log(`N=${n}: → ${r.to}: ${r.outcome}, downtime ${fmtMs(r.downtimeMs)} (command ${fmtMs(r.wallMs)})`);
    results.push({ n, runs });
  }
  const phaseNames = [...new Set(results.flatMap((r) => r.runs.flatMap((x) => Object.keys(x.phasesMs))))];
  printTable(
    'switch-backend: pod network downtime (first stop → verify green) and its phases',
    ['nodes', 'to', 'outcome', 'downtime', 'command wall', ...phaseNames],
    results.flatMap(({ n, runs }) => runs.map((r) => [String(n), r.to, r.outcome, fmtMs(r.downtimeMs), fmtMs(r.wallMs), ...phaseNames.map((p) => (r.phasesMs[p] === undefined ? '-' : fmtMs(r.phasesMs[p])))])),
  );
  return {
    lines: results.flatMap(({ n, runs }) => runs.map((r) => `flanctl switch-backend → ${r.to} on ${n} nodes: downtime ${fmtMs(r.downtimeMs)} (${r.outcome})`)),
    data: results,
  };
}
