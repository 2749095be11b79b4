/**
 * Property-based inventory fuzzing (issue 10): random mutations of a valid inventory (wrong types,
 * missing and extra keys, huge and odd strings, unicode, YAML anchors/aliases/tags, deep nesting,
 * raw bytes) go through the loader and the `validate` command. Always exit 0 or 2, never a stack
 * trace, one line per problem with at most ~40 characters of quoted input.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { parseDocument, stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import Validate from '../../src/commands/validate.js';
import { InventoryError } from '../../src/errors.js';
import { parseInventory } from '../../src/model/inventory.js';
import { PACKAGE_ROOT, runCommand } from './run-command.js';

const base = parseDocument(readFileSync(join(PACKAGE_ROOT, 'inventory.example.yaml'), 'utf8')).toJS() as Record<string, unknown>;
const dir = mkdtempSync(join(tmpdir(), 'flanctl-fuzz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Json = unknown;
/** Every path (keys and indexes) into the base inventory, so mutations hit real places. */
function paths(v: Json, at: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(v)) return [at, ...v.flatMap((x, i) => paths(x, [...at, i]))];
  if (v && typeof v === 'object') return [at, ...Object.entries(v).flatMap(([k, x]) => paths(x, [...at, k]))];
  return [at];
}
const allPaths = paths(base).filter((p) => p.length > 0);

const oddString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.integer({ min: 200, max: 5000 }).map((n) => 'x'.repeat(n)),
  fc.integer({ min: 50, max: 2000 }).map((n) => '\uFFFD'.repeat(n)),
  fc.constantFrom('', ' ', '\u0000', '$(reboot)', '; rm -rf /', '../../etc/passwd', '10.0.0.0/33', '-1', 'NaN', '0x10', 'null', '~', '\u202e', '🙂'),
);
const deep = fc.integer({ min: 20, max: 300 }).map((n) => {
  let v: Json = 'leaf';
  for (let i = 0; i < n; i++) v = i % 2 ? [v] : { k: v };
  return v;
});
const oddValue: fc.Arbitrary<Json> = fc.oneof(oddString, fc.anything({ maxDepth: 3 }), deep, fc.double(), fc.bigInt().map(String), fc.constant(null));

type Mutation = (v: Record<string, unknown>) => void;
const at = (root: Json, p: (string | number)[]): [Record<string | number, unknown>, string | number] | undefined => {
  let cur = root as Record<string | number, unknown>;
  for (const k of p.slice(0, -1)) {
    if (!cur || typeof cur !== 'object') return undefined;
    cur = cur[k] as Record<string | number, unknown>;
  }
  return cur && typeof cur === 'object' ? [cur, p.at(-1)!] : undefined;
};
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.tuple(fc.constantFrom(...allPaths), oddValue).map(([p, v]): Mutation => (o) => { const a = at(o, p); if (a) a[0][a[1]] = v; }),
  fc.constantFrom(...allPaths).map((p): Mutation => (o) => { const a = at(o, p); if (a) delete a[0][a[1]]; }),
  fc.tuple(fc.constantFrom(...allPaths), oddString, oddValue).map(([p, k, v]): Mutation => (o) => { const a = at(o, p); const t = a?.[0][a[1]]; if (t && typeof t === 'object') (t as Record<string, unknown>)[k] = v; }),
);

/** Text-level mutations YAML-specific structures can only be written as text. */
const textMutation = fc.oneof(
  fc.constant((t: string) => `base: &b { a: [*b] }\n${t}`),
  fc.constant((t: string) => `a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n${t}`),
  fc.constant((t: string) => t.replace('network:', 'network: !!binary aGVsbG8=\nnetwork2:')),
  fc.constant((t: string) => t.replace(/cidr: .*/, 'cidr: !custom/tag 10.244.0.0/16')),
  fc.constant((t: string) => t.replace('nodes:', 'nodes: &n\n  - *n\nx:')),
  fc.constant((t: string) => `%YAML 1.1\n---\n${t}\n---\nsecond: doc\n`),
  fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 3000 })).map(([pos, bytes]) => (t: string) => {
    const i = pos % (t.length + 1);
    return t.slice(0, i) + Buffer.from(bytes).toString('latin1') + t.slice(i);
  }),
  fc.uint8Array({ maxLength: 4000 }).map((bytes) => () => Buffer.from(bytes).toString('utf8')),
);

function checkProblems(err: InventoryError): void {
  expect(err.message).not.toMatch(/\n\s+at .+:\d+:\d+/); // no stack trace
  for (const p of err.problems) {
    expect(p.message.includes('\n'), p.message).toBe(false);
    expect(p.message.length, p.message).toBeLessThanOrEqual(201);
    expect(p.path.length, p.path).toBeLessThanOrEqual(400);
    // Quoted input: no run of more than ~60 characters copied from anywhere (garbage is cut).
    expect(/\S{62,}/.test(p.message), p.message).toBe(false);
  }
}

async function load(text: string): Promise<'ok' | 'invalid'> {
  try {
    await parseInventory(text, join(dir, 'inventory.yaml'));
    return 'ok';
  } catch (e) {
    if (!(e instanceof InventoryError)) throw e; // anything else is a bug (would print a stack / exit 1)
    checkProblems(e);
    return 'invalid';
  }
}

describe('inventory fuzzing (fast-check)', () => {
  it('structural mutations: an InventoryError with short one-line problems, or a valid inventory', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 4 }), async (muts) => {
        const o = structuredClone(base);
        for (const m of muts) m(o);
        let text: string;
        try {
          text = stringify(o);
        } catch {
          return; // not representable as YAML (e.g. a symbol): nothing to test
        }
        await load(text);
      }),
      { numRuns: 300 },
    );
  });

  it('text mutations (anchors, aliases, tags, raw bytes, several documents) never escape as a non-inventory error', async () => {
    const valid = stringify(base);
    await fc.assert(fc.asyncProperty(textMutation, async (m) => void (await load(m(valid)))), { numRuns: 200 });
  });

  it('the validate command exits 0 or 2 with no stack trace and short problem lines', async () => {
    const file = join(dir, 'cmd.yaml');
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutation.map((m) => ({ m, t: undefined })), textMutation.map((t) => ({ m: undefined, t }))), async ({ m, t }) => {
        const o = structuredClone(base);
        m?.(o);
        let text: string;
        try {
          text = t ? t(stringify(base)) : stringify(o);
        } catch {
          return;
        }
        writeFileSync(file, text);
        const r = await runCommand(Validate, ['-i', file]);
        expect([0, 2], `${r.stdout}${r.stderr}`).toContain(r.code);
        expect(r.stderr).not.toMatch(/uncaught|\n\s+at .+:\d+:\d+/);
        for (const line of r.stderr.split('\n')) expect(line.length, line).toBeLessThanOrEqual(260);
      }),
      { numRuns: 60 },
    );
  });
});

describe('inventory path problems (exit 2, naming the path)', () => {
  const sub = (name: string) => join(dir, name);
  it.each([
    ['a directory', () => sub('adir'), /adir: 1 problem[\s\S]*is a directory/],
    ['an empty path', () => '', /the inventory path is empty/],
    ['a symlink loop', () => sub('loop'), /loop: 1 problem[\s\S]*symbolic link loop/],
    ['a dangling symlink', () => sub('dangling'), /dangling: 1 problem[\s\S]*symbolic link to .*missing-target, which does not exist/],
    ['a missing file', () => sub('nope.yaml'), /nope\.yaml: 1 problem[\s\S]*not found/],
  ])('%s', async (_what, path, want) => {
    const { mkdirSync, symlinkSync, existsSync, lstatSync } = await import('node:fs');
    if (!existsSync(sub('adir'))) mkdirSync(sub('adir'));
    try { lstatSync(sub('loop')); } catch { symlinkSync(sub('loop'), sub('loop')); }
    try { lstatSync(sub('dangling')); } catch { symlinkSync(sub('missing-target'), sub('dangling')); }
    const r = await runCommand(Validate, ['-i', path()]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(want);
    expect(r.stderr).not.toMatch(/EISDIR|ELOOP|\n\s+at /);
  });
});
