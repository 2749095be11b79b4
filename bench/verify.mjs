/**
 * `flanctl verify --json` (N²−N overlay pings plus health checks) for N = 3 and 10 lab nodes, against
 * bench/baseline-verify.sh: one `ssh node ping -c1 -W1 peer` after the other over all ordered pairs.
 * Each lab is bootstrapped by flanctl first (not timed). Needs root (labs).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_DIR, distImport, flanctl, fmtMs, log, printTable, ratioLine, run, stats, tempDir, withLab } from './lib.mjs';

export const name = 'verify';
export const needsRoot = true;

/** "10.244.5.1/24" → "10.244.5.0" (the lease's .0: the flannel device address vxlan peers ping). */
function leaseBase(cidr) {
  const [ip, len] = cidr.split('/');
  const n = ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  const size = 2 ** (32 - Number(len));
  const base = n - (n % size);
  return [24, 16, 8, 0].map((s) => Math.floor(base / 2 ** s) % 256).join('.');
}

async function pairsFile(lab, file) {
  const targets = [];
  for (const node of lab.inv.nodes) {
    const r = await lab.exec(node.name, ['cat', lab.inv.flannel.subnetFile]);
    const m = r.stdout.match(/^FLANNEL_SUBNET=(\S+)$/m);
    if (!m) throw new Error(`${node.name}: no FLANNEL_SUBNET in ${lab.inv.flannel.subnetFile} after bootstrap`);
    targets.push({ host: node.host, target: leaseBase(m[1]) });
  }
  const lines = targets.flatMap((a) => targets.filter((b) => b !== a).map((b) => `${a.host} ${b.target}\n`));
  writeFileSync(file, lines.join(''));
  return lines.length;
}

async function measure(lab, runs) {
  const { ensureFlanneldCert } = await distImport('pki/index.js');
  if (lab.inv.network.backend.type === 'host-gw') throw new Error('the baseline pings the lease .0 (vxlan); the lab inventory uses host-gw');
  await ensureFlanneldCert(lab.inv);
  const boot = await flanctl(['bootstrap', '-i', lab.inventoryPath, '--json', '--no-verify', '-y'], { timeoutMs: 30 * 60_000 });
  if (boot.code !== 0) throw new Error(`flanctl bootstrap (setup, not timed) exited ${boot.code}: ${(boot.stderr || boot.stdout).trim().slice(-2000)}`);
  const tmp = tempDir('flanctl-bench-verify-');
  try {
    const pairs = join(tmp.dir, 'pairs');
    const count = await pairsFile(lab, pairs);
    const env = { SSH_KEY: lab.inv.ssh.identityFile, KNOWN_HOSTS: lab.inv.ssh.knownHostsFile };
    const t = { flanctl: [], loop: [] };
    let verifySummary;
    let loopResult;
    for (let i = 0; i < runs; i++) {
      const v = await flanctl(['verify', '-i', lab.inventoryPath, '--json'], { timeoutMs: 30 * 60_000 });
      try {
        const report = JSON.parse(v.stdout);
        verifySummary = { exit: v.code, inProcessMs: report.durationMs, ...report.summary };
      } catch {
        throw new Error(`flanctl verify exited ${v.code} without a JSON report: ${(v.stderr || v.stdout).trim().slice(-2000)}`);
      }
      t.flanctl.push(v.ms);
      const l = await run(['bash', join(BENCH_DIR, 'baseline-verify.sh'), pairs], { env, timeoutMs: 30 * 60_000 });
      if (l.code !== 0) throw new Error(`baseline-verify.sh exited ${l.code}: ${l.stderr.trim()}`);
      loopResult = l.stdout.trim();
      t.loop.push(l.ms);
    }
    return { count, flanctl: stats(t.flanctl), loop: stats(t.loop), verifySummary, loopResult, upMs: lab.upMs };
  } finally {
    await tmp.remove();
  }
}

export async function bench(opts) {
  const help = await flanctl(['verify', '--help']);
  if (help.code !== 0) throw new Error(`\`flanctl verify --help\` exited ${help.code}: the verify command is not built yet`);
  const results = [];
  for (const n of opts.verifyNodes) {
    if (n < 2) throw new Error(`--verify-nodes ${n}: verify needs at least 2 nodes`);
    log(`N=${n}: lab up + flanctl bootstrap (not timed), then ${opts.verifyRuns} run(s) of each…`);
    const r = await withLab(n, (lab) => measure(lab, opts.verifyRuns));
    log(`N=${n}: flanctl verify ${fmtMs(r.flanctl.median)} (${r.verifySummary.pairsOk}/${r.verifySummary.pairs} pairs), loop ${fmtMs(r.loop.median)} (${r.loopResult})`);
    results.push({ n, ...r });
  }
  printTable(
    'verify: N²−N overlay pings (flanctl: whole CLI process, pings + health checks) vs sequential `ssh node ping -c1 -W1 peer`',
    ['nodes', 'pairs', 'flanctl verify', 'in-process', 'pairs ok', 'checks ok', 'exit', 'ssh/ping loop', 'loop result', 'speed-up'],
    results.map((r) => [
      String(r.n), String(r.count), fmtMs(r.flanctl.median), fmtMs(r.verifySummary.inProcessMs ?? NaN), `${r.verifySummary.pairsOk}/${r.verifySummary.pairs}`,
      `${r.verifySummary.checksOk}/${r.verifySummary.checks}`, String(r.verifySummary.exit), fmtMs(r.loop.median), r.loopResult,
      `${(r.loop.median / r.flanctl.median).toFixed(1)}×`,
    ]),
  );
  return {
    lines: results.map((r) => ratioLine(`flanctl verify ${r.n} nodes (${r.count} pings + checks)`, r.flanctl.median, 'sequential ssh+ping loop', r.loop.median)),
    data: results,
  };
}
