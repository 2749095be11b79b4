/**
 * Issue 15's goals next to what this run measured: each row says met, missed, or not measured (with
 * the option that measures it). Only ratios and figures from this same run are used.
 */
import { fmtMs, printTable } from './lib.mjs';

const byN = (list, n) => list?.find((r) => r.n === n);
const largest = (list) => list?.reduce((a, r) => (!a || r.n > a.n ? r : a), undefined);

export function goalRows(results) {
  const b = results.bootstrap;
  const b20 = byN(b, 20);
  const b1 = byN(b, 1);
  const v20 = byN(results.verify, 20);
  const s20 = byN(results.switch, 20);
  const big = largest(b);
  const row = (what, goal, measured, met, how) =>
    measured === undefined ? [what, goal, 'not measured', '-', how] : [what, goal, measured, met ? 'met' : 'MISSED', ''];
  return [
    row('bootstrap 20 nodes vs the sequential loop', '≥ 8× faster', b20 && `${(b20.base.firstMs / b20.fl.firstMs).toFixed(1)}×`, b20 && b20.base.firstMs / b20.fl.firstMs >= 8, 'bootstrap --nodes 1,20'),
    row('bootstrap 20 nodes vs 1 node', '≤ 1.5×', b20 && b1 && `${(b20.fl.firstMs / b1.fl.firstMs).toFixed(2)}×`, b20 && b1 && b20.fl.firstMs / b1.fl.firstMs <= 1.5, 'bootstrap --nodes 1,20'),
    row('bootstrap 1 node vs the loop on 1 node', '≤ 1.5× of the loop', b1 && `${(b1.fl.firstMs / b1.base.firstMs).toFixed(2)}×`, b1 && b1.fl.firstMs / b1.base.firstMs <= 1.5, 'bootstrap --nodes 1'),
    row('idempotent rerun vs first bootstrap, 20 nodes', '≤ 25 %', b20 && `${((b20.fl.rerunMs / b20.fl.firstMs) * 100).toFixed(0)} %`, b20 && b20.fl.rerunMs / b20.fl.firstMs <= 0.25, 'bootstrap --nodes 20'),
    row('preflight + scheduling at 20 nodes', '≤ 1 s', b20 && fmtMs(b20.fl.preflightMs), b20 && b20.fl.preflightMs <= 1000, 'bootstrap --nodes 20'),
    row('verify 20 nodes (380 pairs + checks)', '≤ 1.5 s', v20 && fmtMs(v20.flanctl.median), v20 && v20.flanctl.median <= 1500, 'verify --verify-nodes 20'),
    row('switch-backend downtime on 20 nodes', '≤ 3 s', s20 && fmtMs(Math.max(...s20.runs.map((r) => r.downtimeMs))), s20 && Math.max(...s20.runs.map((r) => r.downtimeMs)) <= 3000, 'switch --switch-nodes 20'),
    row(`peak RSS of flanctl bootstrap (${big ? big.n : '?'} nodes; goal at 100)`, '≤ 150 MB', big?.fl.maxRssKb && `${(big.fl.maxRssKb / 1024).toFixed(0)} MB`, big?.fl.maxRssKb && big.fl.maxRssKb / 1024 <= 150, 'bootstrap --nodes 100'),
  ];
}

export function printGoals(results) {
  const rows = goalRows(results);
  printTable('issue 15 goals (stand-in flanneld; this run)', ['measure', 'goal', 'measured', 'status', 'to measure'], rows);
  const measured = rows.filter((r) => r[3] !== '-');
  return [`goals: ${measured.filter((r) => r[3] === 'met').length} of ${measured.length} measured goals met (${rows.length - measured.length} not measured)`];
}
