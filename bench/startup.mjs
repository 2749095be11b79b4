/**
 * CLI start-up: `node bin/run.js --help` and `validate` on the example inventory, against a bare
 * `node -e ''` measured in the same run (interleaved, median of N runs each), wall and CPU time.
 * No root needed.
 */
import { join } from 'node:path';
import { BIN, ROOT, fmtMs, log, printTable, stats, timeCommand } from './lib.mjs';

export const name = 'startup';
export const needsRoot = false;

/** Where start-up CPU goes: `node -e "await import(dep)"` per dependency, minus a bare node (same run). */
const DEPS = ['@oclif/core', 'etcd3', 'zod', 'node-ssh', 'node-forge', 'handlebars', 'yaml', 'listr2'];
async function importCosts(runs, bareCpu) {
  const rows = [];
  for (const dep of [...DEPS, './dist/commands/bootstrap.js']) {
    const cpu = [];
    for (let i = 0; i < runs; i++) cpu.push((await timeCommand([process.execPath, '--input-type=module', '-e', `await import(${JSON.stringify(dep)})`])).cpuMs);
    rows.push({ dep, cpu: stats(cpu), extraCpuMs: stats(cpu).median - bareCpu });
  }
  printTable(
    `Import cost per dependency (cpu of \`node -e "await import(dep)"\` minus bare node, median of ${runs})`,
    ['module', 'cpu', 'extra over bare node'],
    rows.map((r) => [r.dep, fmtMs(r.cpu.median), `+${fmtMs(Math.max(0, r.extraCpuMs))}`]),
  );
  return rows;
}

export async function bench(opts) {
  const runs = opts.runs;
  const cases = [
    { label: "node -e '' (baseline)", argv: [process.execPath, '-e', ''] },
    { label: 'flanctl --help', argv: [process.execPath, BIN, '--help'] },
    { label: 'flanctl validate -i inventory.example.yaml', argv: [process.execPath, BIN, 'validate', '-i', join(ROOT, 'inventory.example.yaml')] },
  ];
  log(`${runs} runs of each, interleaved (one warm-up round discarded)`);
  const wall = cases.map(() => []);
  const cpu = cases.map(() => []);
  const codes = cases.map(() => new Set());
  for (let i = 0; i <= runs; i++) {
    for (const [k, c] of cases.entries()) {
      const r = await timeCommand(c.argv);
      codes[k].add(r.code);
      if (i === 0) continue;
      wall[k].push(r.wallMs);
      cpu[k].push(r.cpuMs);
    }
  }
  const w = wall.map(stats);
  const c = cpu.map(stats);
  const x = (a, b) => `${(a / b).toFixed(1)}×`;
  printTable(
    `CLI start-up, median of ${runs} (wall = elapsed; cpu = user+sys)`,
    ['command', 'wall', 'min', 'max', 'cpu', 'exit', 'wall vs node', 'cpu vs node'],
    cases.map((cs, k) => [cs.label, fmtMs(w[k].median), fmtMs(w[k].min), fmtMs(w[k].max), fmtMs(c[k].median), [...codes[k]].join(','), x(w[k].median, w[0].median), x(c[k].median, c[0].median)]),
  );
  const lines = cases.slice(1).map((cs, i) => {
    const k = i + 1;
    return `${cs.label}: ${fmtMs(w[k].median)} vs bare node ${fmtMs(w[0].median)} → ${x(w[k].median, w[0].median)} the bare start-up (cpu ${fmtMs(c[k].median)} vs ${fmtMs(c[0].median)} → ${x(c[k].median, c[0].median)})`;
  });
  const imports = await importCosts(Math.max(3, Math.ceil(runs / 2)), c[0].median);
  return { lines, data: { commands: cases.map((cs, k) => ({ label: cs.label, wall: w[k], cpu: c[k], exitCodes: [...codes[k]] })), imports } };
}
