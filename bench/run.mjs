#!/usr/bin/env node
/**
 * flanctl benchmarks: `npm run bench [-- <name…>] [options]` (names: startup upload bootstrap verify switch;
 * default all). Each prints absolute numbers and a ratio against a baseline measured in the same run.
 * Uses the built code (dist/): run `npm run build` first. upload/bootstrap/verify need root (labs).
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { checkBuilt, hookSignals, isRoot, runCleanups, tempDir } from './lib.mjs';
import * as startup from './startup.mjs';
import * as upload from './upload.mjs';
import * as bootstrap from './bootstrap-scaling.mjs';
import * as verify from './verify.mjs';
import * as switchBench from './switch.mjs';
import { printGoals } from './goals.mjs';

const BENCHES = [startup, upload, bootstrap, verify, switchBench];
const USAGE = `usage: npm run bench -- [${BENCHES.map((b) => b.name).join('|')} …] [options]
  --runs N            start-up: runs per command (default 10)
  --upload-runs N     upload: runs per method (default 3)
  --size MB           upload: file size (default 40)
  --nodes LIST        bootstrap: lab sizes (default 1,5,20; add 50,100 for the memory goal)
  --verify-nodes LIST verify: lab sizes (default 3,20)
  --switch-nodes LIST switch: lab sizes (default 3,20)
  --verify-runs N     verify: runs per method (default 1)
  --json FILE         also write every measurement to FILE
  --help`;

const list = (s, flag) => {
  const xs = s.split(',').map((x) => Number(x.trim()));
  if (!xs.length || xs.some((x) => !Number.isInteger(x) || x < 1 || x > 250)) throw new Error(`${flag} ${s}: expected a comma-separated list of node counts`);
  return xs;
};
const positive = (s, flag) => {
  const n = Number(s);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag} ${s}: expected a positive number`);
  return n;
};

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      runs: { type: 'string', default: '10' },
      'upload-runs': { type: 'string', default: '3' },
      size: { type: 'string', default: '40' },
      nodes: { type: 'string', default: '1,5,20' },
      'verify-nodes': { type: 'string', default: '3,20' },
      'switch-nodes': { type: 'string', default: '3,20' },
      'verify-runs': { type: 'string', default: '1' },
      json: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return void console.log(USAGE);
  const unknown = positionals.filter((p) => !BENCHES.some((b) => b.name === p));
  if (unknown.length) throw new Error(`unknown benchmark ${unknown.join(', ')}\n${USAGE}`);
  const selected = positionals.length ? BENCHES.filter((b) => positionals.includes(b.name)) : BENCHES;
  const opts = {
    runs: Math.round(positive(values.runs, '--runs')),
    uploadRuns: Math.round(positive(values['upload-runs'], '--upload-runs')),
    sizeMb: positive(values.size, '--size'),
    nodes: list(values.nodes, '--nodes'),
    verifyNodes: list(values['verify-nodes'], '--verify-nodes'),
    switchNodes: list(values['switch-nodes'], '--switch-nodes'),
    verifyRuns: Math.round(positive(values['verify-runs'], '--verify-runs')),
  };

  checkBuilt();
  hookSignals();

  const load = (await import('node:os')).loadavg()[0];
  console.log(`flanctl benchmarks: ${selected.map((b) => b.name).join(', ')} (node ${process.version}, ${(await import('node:os')).cpus().length} cores, load ${load.toFixed(1)})`);
  if (load > (await import('node:os')).cpus().length) console.log('note: the machine is busy (load above the core count): absolute numbers are noisy, the ratios less so');

  const results = {};
  const summary = [];
  let failed = 0;
  for (const b of selected) {
    console.log(`\n=== ${b.name} ===`);
    if (b.needsRoot && !isRoot()) {
      const why = `${b.name}: skipped (needs root: it starts a lab of network-namespace nodes; run as root)`;
      console.log(why);
      summary.push(why);
      continue;
    }
    try {
      // flanctl's tarball digest cache (bootstrap/tarball-cache.ts) in a temp dir of each benchmark (removed
      // with its other temp files below), not ~/.cache.
      process.env.FLANCTL_TARBALL_CACHE = tempDir('flanctl-bench-cache-').dir;
      const r = await b.bench(opts);
      results[b.name] = r.data;
      summary.push(...r.lines);
    } catch (e) {
      failed++;
      console.error(`${b.name} FAILED: ${e?.stack ?? e}`);
      summary.push(`${b.name}: FAILED (${String(e?.message ?? e).split('\n')[0]})`);
    } finally {
      await runCleanups();
    }
  }
  summary.push(...printGoals(results));
  console.log('\n=== summary (ratios measured in this run) ===');
  for (const l of summary) console.log(l);
  if (values.json) writeFileSync(values.json, JSON.stringify({ at: new Date().toISOString(), opts, load, results }, null, 2) + '\n');
  process.exitCode = failed ? 1 : 0;
}

main().catch(async (e) => {
  console.error(e?.message ?? e);
  await runCleanups();
  process.exitCode = 2;
});
