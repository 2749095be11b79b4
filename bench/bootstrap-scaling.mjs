/**
 * `flanctl bootstrap` wall time for N lab nodes (default 1,5,10) against bench/baseline-bootstrap.sh
 * (the tutorials' sequential ssh/scp loop), each on its own fresh lab; plus the idempotent rerun
 * against the first run (and the loop run again). Needs root (labs).
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_DIR, distImport, flanctl, fmtMs, log, median, printTable, ratioLine, runOk, tempDir, withLab } from './lib.mjs';

export const name = 'bootstrap';
export const needsRoot = true;

const SUPERVISOR_CONF = '/etc/supervisor/conf.d/flanneld.conf';

/**
 * The certificates both sides need are issued before the clock starts (same work for both). flanctl has
 * met the tarball before, as after a `flanctl plan`: its digests are in flanctl's cache (this run's temp
 * cache dir), so the timed bootstrap gunzips it only for the uploads. A first-ever read costs a 20-node
 * preflight ~0.1-0.3 s more on this machine.
 */
async function prepare(lab) {
  const { ensureFlanneldCert } = await distImport('pki/index.js');
  const { readFlannelTarball } = await distImport('bootstrap/tarball.js');
  await ensureFlanneldCert(lab.inv);
  await readFlannelTarball(lab.inv.flannel.tarball);
}

/** Staging dir for the loop: certs, the tarball's binaries, one supervisord file per node, the config. */
async function stage(lab, dir) {
  const { etcdTlsFiles } = await distImport('model/inventory.js');
  const { renderSupervisordConf } = await distImport('model/templates.js');
  const { networkConfigText } = await distImport('model/flannel-config.js');
  const inv = lab.inv;
  const tls = etcdTlsFiles(inv);
  for (const d of ['certs', 'bin', 'conf']) mkdirSync(join(dir, d));
  copyFileSync(tls.ca, join(dir, 'certs', 'ca.pem'));
  copyFileSync(join(inv.pki.dir, 'flanneld.pem'), join(dir, 'certs', 'flanneld.pem'));
  copyFileSync(join(inv.pki.dir, 'flanneld-key.pem'), join(dir, 'certs', 'flanneld-key.pem'));
  await runOk(['tar', '-xzf', inv.flannel.tarball, '-C', join(dir, 'bin'), '--no-same-owner', 'flanneld', 'mk-docker-opts.sh']);
  // No flanctl iptables watcher in the tutorials' program file.
  const plain = { ...inv, iptables: { ...inv.iptables, masquerade: 'none', forwardAccept: false } };
  for (const node of inv.nodes) writeFileSync(join(dir, 'conf', `${node.name}.conf`), renderSupervisordConf(plain, node, SUPERVISOR_CONF));
  writeFileSync(join(dir, 'hosts'), inv.nodes.map((n) => `${n.name} ${n.host}\n`).join(''));
  writeFileSync(join(dir, 'network-config.json'), networkConfigText(inv));
  return {
    SSH_KEY: inv.ssh.identityFile, KNOWN_HOSTS: inv.ssh.knownHostsFile,
    ETCD_ENDPOINTS: inv.etcd.endpoints.join(','), ETCD_PREFIX: inv.etcd.prefix, ETCD_CA: tls.ca, ETCD_CERT: tls.cert, ETCD_KEY: tls.key,
    CONFIG_DIR: inv.flannel.configDir, INSTALL_DIR: inv.flannel.installDir, LOG_DIR: inv.flannel.logDir,
    SUPERVISOR_CONF, SUBNET_FILE: inv.flannel.subnetFile,
  };
}

async function loop(lab) {
  await prepare(lab);
  const staging = tempDir('flanctl-bench-loop-');
  try {
    const env = await stage(lab, staging.dir);
    const script = join(BENCH_DIR, 'baseline-bootstrap.sh');
    const first = await runOk(['bash', script, staging.dir], { env, timeoutMs: 30 * 60_000 });
    const again = await runOk(['bash', script, staging.dir], { env, timeoutMs: 30 * 60_000 });
    return { firstMs: first.ms, rerunMs: again.ms };
  } finally {
    await staging.remove();
  }
}

function parseReport(r, what) {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}: ${(r.stderr || r.stdout).trim().slice(-3000)}`);
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new Error(`${what}: --json output is not JSON: ${r.stdout.slice(0, 500)}`);
  }
}

async function withFlanctl(lab) {
  await prepare(lab);
  const args = ['bootstrap', '-i', lab.inventoryPath, '--json', '--no-verify', '-y'];
  const first = await flanctl(args, { timeoutMs: 30 * 60_000 });
  const firstReport = parseReport(first, 'flanctl bootstrap');
  const again = await flanctl(args, { timeoutMs: 30 * 60_000 });
  const againReport = parseReport(again, 'flanctl bootstrap (rerun)');
  return {
    firstMs: first.ms, rerunMs: again.ms, first: firstReport.summary, rerun: againReport.summary, concurrency: lab.inv.ssh.concurrency,
    firstReportMs: firstReport.durationMs, rerunReportMs: againReport.durationMs,
    firstSteps: stepTimes(firstReport), rerunSteps: stepTimes(againReport),
    firstTimings: firstReport.timings, rerunTimings: againReport.timings,
    maxRssKb: first.maxRssKb,
  };
}

/** Per step id: median duration over the node targets; plus the longest node and the cluster target. */
function stepTimes(report) {
  const nodes = report.targets.filter((t) => t.steps.some((s) => s.id !== 'etcd:config'));
  const ids = [...new Set(nodes.flatMap((t) => t.steps.map((s) => s.id)))];
  const med = (xs) => median(xs.length ? xs : [0]);
  return {
    steps: ids.map((id) => ({ id, ms: med(nodes.flatMap((t) => t.steps.filter((s) => s.id === id).map((s) => s.durationMs ?? 0))) })),
    longestNodeMs: Math.max(0, ...nodes.map((t) => t.durationMs ?? 0)),
    clusterMs: report.targets.filter((t) => !nodes.includes(t)).reduce((a, t) => a + (t.durationMs ?? 0), 0),
  };
}

/** Where a run's wall time goes (the largest N): CLI start-up/exit, preflight, the slowest node, per step. */
function printBreakdown({ n, fl }) {
  const parts = (wall, reportMs, st, timings) => [
    ['whole process (wall)', fmtMs(wall)],
    ['outside runBootstrap (node + imports + CLI start-up, exit)', fmtMs(wall - reportMs)],
    ['runBootstrap (report durationMs)', fmtMs(reportMs)],
    ['  preflight (report timings.preflight)', timings ? fmtMs(timings.preflight) : '-'],
    ['  preflight + scheduling, until the node steps begin (timings.firstStep)', timings ? fmtMs(timings.firstStep) : '-'],
    ['  report − cluster − longest node (older estimate; includes waits between phases)', fmtMs(Math.max(0, reportMs - st.clusterMs - st.longestNodeMs))],
    ['  cluster target (etcd config)', fmtMs(st.clusterMs)],
    ['  longest node (its steps in order)', fmtMs(st.longestNodeMs)],
  ];
  const a = parts(fl.firstMs, fl.firstReportMs, fl.firstSteps, fl.firstTimings);
  const b = parts(fl.rerunMs, fl.rerunReportMs, fl.rerunSteps, fl.rerunTimings);
  const rerun = new Map(fl.rerunSteps.steps.map((s) => [s.id, s.ms]));
  printTable(
    `Where flanctl bootstrap's time goes (N=${n}; per step: median over nodes)`,
    ['', 'first run', 'rerun'],
    [
      ...a.map((r, i) => [r[0], r[1], b[i][1]]),
      ...fl.firstSteps.steps.map((s) => [`    step ${s.id}`, fmtMs(s.ms), rerun.has(s.id) ? fmtMs(rerun.get(s.id)) : '-']),
    ],
  );
}

export async function bench(opts) {
  const help = await flanctl(['bootstrap', '--help']);
  if (help.code !== 0) throw new Error(`\`flanctl bootstrap --help\` exited ${help.code}: the bootstrap command is not built yet`);
  const results = [];
  for (const n of opts.nodes) {
    log(`N=${n}: sequential ssh/scp loop on a fresh lab…`);
    const base = await withLab(n, (lab) => loop(lab).then((r) => ({ ...r, upMs: lab.upMs })));
    log(`N=${n}: loop ${fmtMs(base.firstMs)}, loop again ${fmtMs(base.rerunMs)} (lab up ${fmtMs(base.upMs)}); flanctl bootstrap on a fresh lab…`);
    const fl = await withLab(n, withFlanctl);
    // What the report measures (start of the run → first node step); the older estimate (report − cluster −
    // longest node) also counted a fast node's wait for the slow ones between phases.
    fl.preflightMs = fl.firstTimings?.firstStep ?? Math.max(0, fl.firstReportMs - fl.firstSteps.clusterMs - fl.firstSteps.longestNodeMs);
    log(`N=${n}: flanctl ${fmtMs(fl.firstMs)}, rerun ${fmtMs(fl.rerunMs)} (${fl.rerun.changed} changes, ${fl.rerun.restarts} restarts)`);
    results.push({ n, base, fl });
  }
  printTable(
    'bootstrap wall time (whole CLI process; --no-verify; tarball digests already known, as after `flanctl plan`) vs the sequential ssh/scp loop (bench/baseline-bootstrap.sh)',
    ['nodes', 'loop', 'flanctl', 'speed-up', 'loop again', 'flanctl rerun', 'rerun/first', 'rerun changes', 'flanctl in-process', 'ms/node flanctl', 'ms/node loop', 'peak RSS'],
    results.map(({ n, base, fl }) => [
      String(n), fmtMs(base.firstMs), fmtMs(fl.firstMs), `${(base.firstMs / fl.firstMs).toFixed(1)}×`, fmtMs(base.rerunMs), fmtMs(fl.rerunMs),
      `${((fl.rerunMs / fl.firstMs) * 100).toFixed(0)}%`, `${fl.rerun.changed} chg, ${fl.rerun.restarts} restarts`,
      fmtMs(fl.firstReportMs),
      (fl.firstMs / n).toFixed(0), (base.firstMs / n).toFixed(0), fl.maxRssKb ? `${(fl.maxRssKb / 1024).toFixed(0)} MB` : '-',
    ]),
  );
  printBreakdown(results[results.length - 1]);
  const lines = results.flatMap(({ n, base, fl }) => [
    ratioLine(`flanctl bootstrap ${n} node${n > 1 ? 's' : ''}`, fl.firstMs, 'sequential loop', base.firstMs),
    `flanctl bootstrap ${n} node${n > 1 ? 's' : ''} rerun (idempotent, ${fl.rerun.changed} changes, ${fl.rerun.restarts} restarts): ${fmtMs(fl.rerunMs)} vs first run ${fmtMs(fl.firstMs)} → ${((fl.rerunMs / fl.firstMs) * 100).toFixed(0)}% of it`,
    ratioLine(`flanctl bootstrap ${n} node${n > 1 ? 's' : ''} rerun`, fl.rerunMs, 'the loop run again', base.rerunMs),
  ]);
  return { lines, data: results };
}
