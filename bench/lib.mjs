/**
 * Shared helpers for the benchmarks (bench/*.mjs): timing, statistics, tables, ratio lines, child
 * processes, cleanup on exit/signal, and labs of namespace nodes (dist/lab/lab.js) in temp dirs.
 * Benchmarks run against the BUILT code in dist/ (`npm run build` first) and never assert timings.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
export const BIN = join(ROOT, 'bin', 'run.js');
/** The node flags of bin/run.js's `#!/usr/bin/env -S node …` line: the bench runs the CLI as its shebang does. */
export const NODE_FLAGS = (() => {
  const first = readFileSync(BIN, 'utf8').split('\n', 1)[0];
  const m = /^#!\/usr\/bin\/env -S node(?: (.*))?$/.exec(first);
  return m?.[1] ? m[1].split(/\s+/) : [];
})();
export const BENCH_DIR = join(ROOT, 'bench');

/** import() a module of the built code: distImport('lab/lab.js'). */
export const distImport = (rel) => import(pathToFileURL(join(ROOT, 'dist', rel)).href);

export const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/** Stop early when dist/ is missing; warn when a source file is newer than the build. */
export function checkBuilt() {
  for (const f of ['commands/bootstrap.js', 'lab/lab.js', 'connector/ssh.js']) {
    if (!existsSync(join(ROOT, 'dist', f))) throw new Error(`dist/${f} is missing: run \`npm run build\` first (the benchmarks use the built code)`);
  }
  const newest = (dir) =>
    readdirSync(dir, { withFileTypes: true }).reduce((m, e) => {
      const p = join(dir, e.name);
      return Math.max(m, e.isDirectory() ? newest(p) : e.name.endsWith('.ts') ? statSync(p).mtimeMs : 0);
    }, 0);
  const built = statSync(join(ROOT, 'dist', 'commands', 'bootstrap.js')).mtimeMs;
  if (newest(join(ROOT, 'src')) > built) console.log('note: some src/*.ts are newer than dist/ (run `npm run build` to bench the current code)');
}

// ---------------------------------------------------------------- processes

/**
 * Run argv; resolves with {code, stdout, stderr, ms, lastOutMs (when stdout was last written)} for any
 * exit code (never throws on exit != 0).
 */
export function run(argv, opts = {}) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(argv[0], argv.slice(1), { cwd: opts.cwd ?? ROOT, env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out = [];
    const err = [];
    let timer;
    if (opts.timeoutMs) timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    let lastOutMs;
    child.stdout.on('data', (b) => {
      out.push(b);
      lastOutMs = performance.now() - t0;
    });
    child.stderr.on('data', (b) => err.push(b));
    child.on('error', (e) => err.push(Buffer.from(String(e.message))));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const ms = performance.now() - t0;
      resolve({ code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), ms, lastOutMs });
    });
    child.stdin.end(opts.input ?? undefined);
  });
}

/** run() that throws with the command's stderr when it exits non-zero. */
export async function runOk(argv, opts = {}) {
  const r = await run(argv, opts);
  if (r.code !== 0) throw new Error(`${argv.slice(0, 4).join(' ')}… exited ${r.code}: ${(r.stderr || r.stdout).trim().slice(-2000)}`);
  return r;
}

/**
 * Run argv (output discarded) under bash's `time`: {code, wallMs, cpuMs (user+sys of the process and
 * its children)}. CPU time is far less disturbed by a busy machine than wall time.
 */
export async function timeCommand(argv) {
  const r = await run(['bash', '-c', 'TIMEFORMAT="%3R %3U %3S"; time "$@" >/dev/null 2>&1', 'bench', ...argv]);
  const m = r.stderr.trim().split('\n').pop().match(/^([\d.]+) ([\d.]+) ([\d.]+)$/);
  if (!m) throw new Error(`could not time ${argv.join(' ')}: ${r.stderr.trim()}`);
  return { code: r.code, wallMs: Number(m[1]) * 1000, cpuMs: (Number(m[2]) + Number(m[3])) * 1000 };
}

/** Preloaded into the CLI process: prints its peak RSS (kB) to stderr at exit, for the memory goal. */
const RSS_HOOK = `--import=data:text/javascript,process.on('exit',()=>process.stderr.write('\\nflanctl-bench-maxrss-kb='+process.resourceUsage().maxRSS+'\\n'))`;

/**
 * `node bin/run.js …args` (the built CLI); the result also carries maxRssKb, the process's peak
 * resident memory (the marker line is removed from stderr).
 */
export async function flanctl(args, opts = {}) {
  const r = await run([process.execPath, ...NODE_FLAGS, RSS_HOOK, BIN, ...args], opts);
  const m = r.stderr.match(/\nflanctl-bench-maxrss-kb=(\d+)\n/);
  return { ...r, stderr: m ? r.stderr.replace(m[0], '') : r.stderr, maxRssKb: m ? Number(m[1]) : undefined };
}

// ---------------------------------------------------------------- timing and statistics

export async function timeIt(fn) {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export const stats = (xs) => ({ n: xs.length, median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });

export function fmtMs(ms) {
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  return `${ms.toFixed(ms >= 100 ? 0 : 1)} ms`;
}

export const fmtRate = (bytes, ms) => `${(bytes / (1 << 20) / (ms / 1000)).toFixed(1)} MB/s`;

/** "flanctl X: 6.1 s vs sequential loop 38.0 s → 6.2× faster" (or "… slower"). */
export function ratioLine(label, ms, baseLabel, baseMs) {
  const r = baseMs / ms;
  const how = r >= 1 ? `${r.toFixed(1)}× faster` : `${(1 / r).toFixed(1)}× slower`;
  return `${label}: ${fmtMs(ms)} vs ${baseLabel} ${fmtMs(baseMs)} → ${how}`;
}

// ---------------------------------------------------------------- output

/** Print an aligned table: title, header row, rows (arrays of strings). */
export function printTable(title, header, rows) {
  const all = [header, ...rows].map((r) => r.map(String));
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  console.log(`\n${title}`);
  console.log(line(all[0]));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of all.slice(1)) console.log(line(r));
}

export const log = (msg) => console.log(`  · ${msg}`);

// ---------------------------------------------------------------- cleanup

const cleanups = new Set();

/** Register an async cleanup; returns a function that runs it once and unregisters it. */
export function onCleanup(fn) {
  let done = false;
  const once = async () => {
    if (done) return;
    done = true;
    cleanups.delete(once);
    await fn();
  };
  cleanups.add(once);
  return once;
}

/** Run every registered cleanup (newest first); errors are printed, not thrown. */
export async function runCleanups() {
  for (const fn of [...cleanups].reverse()) {
    try {
      await fn();
    } catch (e) {
      console.error(`cleanup failed: ${e?.message ?? e}`);
    }
  }
}

let signalsHooked = false;
export function hookSignals() {
  if (signalsHooked) return;
  signalsHooked = true;
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, async () => {
      console.error(`\n${sig}: cleaning up (labs, temp dirs)…`);
      await runCleanups();
      process.exit(130);
    });
  }
}

/** A temp dir removed at cleanup. */
export function tempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const remove = onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return { dir, remove };
}

// ---------------------------------------------------------------- labs

/**
 * A fresh lab of `nodes` namespace nodes in its own temp dir (its own lab index); `fn(lab)` runs
 * with it and the lab is removed afterwards (also on error or Ctrl-C).
 * lab = {dir, inventoryPath, inv, nodes: [{name, ip}], ssh: [ssh/scp options], exec(node, argv), upMs}
 */
export async function withLab(nodes, fn) {
  const { labUp, labDown, labExec } = await distImport('lab/lab.js');
  const { loadInventory } = await distImport('model/inventory.js');
  const dir = mkdtempSync(join(tmpdir(), 'flanctl-bench-lab-'));
  const down = onCleanup(() => labDown({ dir, purge: true }));
  try {
    // FLANCTL_BENCH_WATCH_BUG=1: the stand-in emulates v0.20.2's etcd watch bug, so the peer repair shows.
    const up = await timeIt(() => labUp({ dir, nodes, watchBug: process.env.FLANCTL_BENCH_WATCH_BUG === '1' }));
    const inventoryPath = join(dir, 'inventory.yaml');
    const inv = await loadInventory(inventoryPath);
    const lab = {
      dir,
      inventoryPath,
      inv,
      upMs: up.ms,
      nodes: up.value.nodes.map((n) => ({ name: n.name, ip: n.ip })),
      /** OpenSSH options the baselines use: the lab key and known_hosts, no user config, no multiplexing. */
      ssh: [
        '-F', '/dev/null', '-i', inv.ssh.identityFile, '-o', `UserKnownHostsFile=${inv.ssh.knownHostsFile}`,
        '-o', 'GlobalKnownHostsFile=/dev/null', '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR',
      ],
      exec: (node, argv) => labExec(dir, node, argv),
    };
    return await fn(lab);
  } finally {
    await down();
  }
}
