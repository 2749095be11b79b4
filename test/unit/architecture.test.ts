/**
 * The layout as a tested property (ARCHITECTURE.md): imports point downwards only
 * (commands → operations → steps → engine → connector / kv / pki → model), there is no import
 * cycle, no file in src/ is longer than 300 lines and no command longer than 80.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = resolve(new URL('../../src', import.meta.url).pathname);

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const files = walk(SRC);
const rel = (f: string) => relative(SRC, f);

/** Relative imports of one file (static, type-only and dynamic), resolved to src/ paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) => m[1]);
  return specs.map((s) => rel(resolve(dirname(file), s).replace(/\.js$/, '.ts')));
}

/** The layer of a file: higher may import lower or equal (equal only as listed in SAME_LAYER_OK). */
function layer(path: string): { rank: number; group: string } {
  const top = path.includes('/') ? path.split('/')[0] : path;
  const ranks: Record<string, number> = {
    'errors.ts': 0, 'load-order.ts': 0, model: 0,
    pki: 1, connector: 1, kv: 1,
    engine: 2,
    steps: 3,
    verify: 4, reset: 4, switch: 4, bootstrap: 4, lab: 4,
    cli: 4,
    'command.ts': 5, commands: 6, hooks: 6,
  };
  if (!(top in ranks)) throw new Error(`${path}: no layer for ${top} (add it to ARCHITECTURE.md and this test)`);
  return { rank: ranks[top], group: top };
}

const graph = new Map(files.map((f) => [rel(f), importsOf(f)]));

describe('source tree architecture', () => {
  it('every relative import resolves to a file in src/', () => {
    const missing = [...graph].flatMap(([f, deps]) => deps.filter((d) => !graph.has(d)).map((d) => `${f} → ${d}`));
    expect(missing).toEqual([]);
  });

  it('imports point downwards only', () => {
    const upward: string[] = [];
    for (const [f, deps] of graph) {
      const from = layer(f);
      for (const d of deps) {
        const to = layer(d);
        if (to.rank > from.rank) upward.push(`${f} → ${d}`);
        // Within a layer only the same folder, or one operation using another (no cycle, checked below).
        else if (to.rank === from.rank && to.group !== from.group && from.rank !== 4 && from.rank !== 0) upward.push(`${f} → ${d}`);
      }
    }
    expect(upward).toEqual([]);
  });

  it('has no import cycle', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (f: string) => {
      state.set(f, 'open');
      stack.push(f);
      for (const d of graph.get(f) ?? []) {
        if (state.get(d) === 'open') cycles.push([...stack.slice(stack.indexOf(d)), d].join(' → '));
        else if (!state.has(d)) visit(d);
      }
      stack.pop();
      state.set(f, 'done');
    };
    for (const f of graph.keys()) if (!state.has(f)) visit(f);
    expect(cycles).toEqual([]);
  });

  it('the benchmarks import built modules that exist (bench/*.mjs distImport)', () => {
    const bench = resolve(SRC, '../bench');
    const missing = readdirSync(bench)
      .filter((f) => f.endsWith('.mjs'))
      .flatMap((f) => [...readFileSync(join(bench, f), 'utf8').matchAll(/distImport\('([^']+)'\)/g)].map((m) => ({ f, mod: m[1] })))
      .filter(({ mod }) => !graph.has(mod.replace(/\.js$/, '.ts')))
      .map(({ f, mod }) => `bench/${f}: dist/${mod}`);
    expect(missing).toEqual([]);
  });

  it('bin/run.js starts node with a small young generation, and the bench runs it with the same flags', async () => {
    const bin = resolve(SRC, '../bin/run.js');
    expect(readFileSync(bin, 'utf8').split('\n', 1)[0]).toBe('#!/usr/bin/env -S node --max-semi-space-size=1');
    const { NODE_FLAGS } = (await import(pathToFileURL(resolve(SRC, '../bench/lib.mjs')).href)) as { NODE_FLAGS: string[] };
    expect(NODE_FLAGS).toEqual(['--max-semi-space-size=1']);
  });

  it('keeps files short: src ≤ 300 lines, commands ≤ 80', () => {
    const long = files
      .map((f) => ({ f: rel(f), n: readFileSync(f, 'utf8').split('\n').length - 1 }))
      .filter(({ f, n }) => n > (f.startsWith('commands/') ? 80 : 300))
      .map(({ f, n }) => `${f}: ${n} lines`);
    expect(long).toEqual([]);
  });
});
