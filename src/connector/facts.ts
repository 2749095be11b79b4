/**
 * One round trip to learn a node (issue 15 item 1). Steps declare the read-only commands their
 * check() runs (Step.reads); the engine (and preflight) hand them to prefetch(), which runs them all
 * in ONE remote script and keeps each answer for the matching exec(argv) / read(path) that follows.
 *
 * Framing (parsed and validated here, any doubt → nothing is cached and every read goes to the wire):
 * a header line per command `<index> <exit> <stdout bytes> <stderr bytes>`, `end <count>`, then the
 * outputs back to back.
 * The commands arrive as positional arguments, each one argv quoted by quote.ts (the one place for
 * quoting) and run with `eval`, exactly as sshd runs a single command; the script text is fixed.
 *
 * Honesty rules (test/unit/facts.test.ts):
 *  - only exact argv matches are served, and each prefetched answer at most once (a command declared
 *    by two steps is fetched once and may be served twice);
 *  - forget() drops every answer: the engine calls it after any change is applied on the target and
 *    when the target ends, so checks after an apply (and everything after the run) go to the wire;
 *  - a change that says what it alters (Change.affects: a file it writes, a sysctl key it sets) drops
 *    only the answers whose argv names it or one of its parent directories (forgetMentioning); a
 *    write() through the connector does the same for its path.
 */
import type { Connector, ExecOptions, ExecResult } from './connector.js';
import { shellQuote } from './quote.js';
import { MISSING_EXIT, readArgv } from './remote-scripts.js';
import { groupablePath, splitStatMany, statManyArgv } from './stat-group.js';

export const FACTS_TAG = 'flanctl-facts';

/**
 * The commands run concurrently (background jobs, as separate exec channels would), each with its
 * own stdout/stderr/exit files; then one `stat` for every size and one `cat` for every output.
 */
const FACTS_SCRIPT = `n=$#
d=$(mktemp -d) || exit 97
trap 'rm -rf -- "$d"' EXIT
i=0
for c in "$@"; do
  { eval "$c"; echo $? >"$d/$i.c"; } </dev/null >"$d/$i.o" 2>"$d/$i.e" &
  i=$((i+1))
done
wait
set --
i=0
while [ $i -lt $n ]; do set -- "$@" "$d/$i.o" "$d/$i.e"; i=$((i+1)); done
sizes=
[ $n -eq 0 ] || sizes=$(stat -c %s -- "$@") || exit 98
i=0
o=
for s in $sizes; do
  if [ -z "$o" ]; then o=$s; continue; fi
  c=255
  read c <"$d/$i.c"
  printf '%s %s %s %s\\n' $i $c $o $s
  o=
  i=$((i+1))
done
printf 'end %s\\n' $n
[ $n -eq 0 ] || exec cat -- "$@"`;

/** argv of the one remote script that runs every read (each an argv) and frames the answers. */
export function factsArgv(reads: readonly string[][]): string[] {
  return ['sh', '-c', FACTS_SCRIPT, FACTS_TAG, ...reads.map(shellQuote)];
}

export class FactsFormatError extends Error {}

export interface RawResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/**
 * The script's stdout → one result per command, in order; throws FactsFormatError on anything off.
 * Format: `<index> <exit> <stdout bytes> <stderr bytes>` per command, `end <count>`, then every
 * command's stdout and stderr back to back (their lengths must add up to exactly what is left).
 */
export function parseFacts(out: Buffer | string, count: number): RawResult[] {
  const buf = Buffer.isBuffer(out) ? out : Buffer.from(out, 'utf8');
  let pos = 0;
  const line = (): string => {
    const nl = buf.indexOf(0x0a, pos);
    if (nl < 0 || nl - pos > 100) throw new FactsFormatError(`facts: truncated header at byte ${pos}`);
    const text = buf.subarray(pos, nl).toString('latin1');
    pos = nl + 1;
    return text;
  };
  const heads: Array<{ code: number; outLen: number; errLen: number }> = [];
  for (let i = 0; i < count; i++) {
    const m = /^(\d+) (\d+) (\d+) (\d+)$/.exec(line());
    if (!m || Number(m[1]) !== i) throw new FactsFormatError(`facts: bad header for command ${i}`);
    heads.push({ code: Number(m[2]), outLen: Number(m[3]), errLen: Number(m[4]) });
  }
  if (line() !== `end ${count}`) throw new FactsFormatError('facts: bad or missing trailer');
  const total = heads.reduce((n, h) => n + h.outLen + h.errLen, 0);
  if (pos + total !== buf.length) throw new FactsFormatError(`facts: ${buf.length - pos} bytes of output, the headers say ${total}`);
  return heads.map((h) => {
    const stdout = Buffer.from(buf.subarray(pos, pos + h.outLen));
    const stderr = buf.subarray(pos + h.outLen, pos + h.outLen + h.errLen).toString('utf8');
    pos += h.outLen + h.errLen;
    return { code: h.code, stdout, stderr };
  });
}

/** How often a connector went to the wire (per node, per run), and how often the cache answered. */
export interface ConnectorStats {
  execs: number;
  reads: number;
  writes: number;
  /** Of the execs: fact batches (one round trip each). */
  batches: number;
  /** exec()/read() calls answered from a batch (no round trip). */
  served: number;
  /** What went to the wire, briefly (the first 200 round trips; for debugging and test messages). */
  wire: string[];
}

export interface FactSource {
  /** Fetch (in one round trip) what is not already held; resolves to the number of commands fetched. */
  prefetch(reads: readonly string[][]): Promise<number>;
  /** Drop every held answer: later exec()/read() go to the wire. */
  forget(): void;
  /** Drop the held answers whose argv names one of `what` (contains it), or a parent directory of a path in it. */
  forgetMentioning(what: readonly string[]): void;
  readonly stats: ConnectorStats;
}

export type CachingConnector = Connector & FactSource;

export function isFactSource(c: Connector | undefined): c is CachingConnector {
  return !!c && typeof (c as Partial<FactSource>).prefetch === 'function' && typeof (c as Partial<FactSource>).forget === 'function';
}

const keyOf = (argv: readonly string[]) => JSON.stringify(argv);

/** The parent directories of an absolute path ("/a/b/c" → "/a/b", "/a", "/"). */
function parents(path: string): string[] {
  const out: string[] = [];
  for (let p = path.replace(/\/+$/, ''); p.lastIndexOf('/') > 0; ) out.push((p = p.slice(0, p.lastIndexOf('/'))));
  return path.startsWith('/') ? [...out, '/'] : out;
}

/** Whether an argv may read one of `what`: an element contains it, or equals a parent directory of a path in it. */
export function mentions(what: readonly string[]): (argv: readonly string[]) => boolean {
  const dirs = new Set(what.filter((w) => w.startsWith('/')).flatMap(parents));
  return (argv) => argv.some((a) => dirs.has(a.replace(/\/+$/, '') || '/') || what.some((w) => a.includes(w)));
}
/** Largest batch sent at once (keeps the script's argument list far below ARG_MAX). */
const MAX_BATCH = 400;

/** opts.batch false: prefetch fetches nothing (every read goes to the wire, as before batching; for comparisons). */
export function cachingConnector(inner: Connector, opts: { timeoutMs?: number; batch?: boolean } = {}): CachingConnector {
  const held = new Map<string, { result: RawResult; left: number; argv: readonly string[] }>();
  const stats: ConnectorStats = { execs: 0, reads: 0, writes: 0, batches: 0, served: 0, wire: [] };
  const trace = (what: string) => {
    if (stats.wire.length < 200) stats.wire.push(what.length > 80 ? `${what.slice(0, 77)}...` : what);
  };
  let generation = 0;

  const take = (argv: readonly string[]): RawResult | undefined => {
    const k = keyOf(argv);
    const h = held.get(k);
    if (!h) return undefined;
    if (--h.left <= 0) held.delete(k);
    stats.served++;
    return h.result;
  };

  const conn: CachingConnector = {
    name: inner.name,
    stats,

    async prefetch(reads) {
      if (opts.batch === false) return 0;
      const want = new Map<string, { argv: string[]; n: number }>();
      for (const argv of reads) {
        if (!argv.length) continue;
        const k = keyOf(argv);
        const w = want.get(k) ?? { argv: [...argv], n: 0 };
        w.n++;
        want.set(k, w);
      }
      const missing: Array<{ k: string; argv: string[]; n: number }> = [];
      for (const [k, w] of want) {
        const have = held.get(k)?.left ?? 0;
        if (have >= w.n) continue;
        if (have > 0) held.get(k)!.left = w.n; // already fetched: it may be served as often as declared
        else missing.push({ k, argv: w.argv, n: w.n });
      }
      const gen = generation;
      for (let i = 0; i < missing.length; i += MAX_BATCH) {
        const part = missing.slice(i, i + MAX_BATCH);
        // File checks of the batch in one command (stat-group.ts); the others as they are.
        const grouped = part.filter((m) => groupablePath(m.argv) !== undefined);
        const single = grouped.length >= 2 ? part.filter((m) => !grouped.includes(m)) : part;
        const paths = single === part ? [] : grouped.map((m) => groupablePath(m.argv)!);
        const argvs = [...single.map((m) => m.argv), ...(paths.length ? [statManyArgv(paths)] : [])];
        stats.execs++;
        stats.batches++;
        trace(`facts batch (${part.length} reads)`);
        const r = await inner.exec(factsArgv(argvs), { timeoutMs: opts.timeoutMs ?? 60_000 });
        if (r.code !== 0) return i; // e.g. no mktemp: every read goes to the wire
        let results: RawResult[];
        try {
          results = parseFacts(r.stdout, argvs.length);
        } catch {
          return i;
        }
        if (gen !== generation) return i; // forgotten (a change was applied) while the batch ran
        single.forEach((m, j) => held.set(m.k, { result: results[j], left: m.n, argv: m.argv }));
        const files = paths.length ? splitStatMany(paths, results[single.length]) : undefined;
        if (files) grouped.forEach((m, j) => held.set(m.k, { result: files.get(paths[j])!, left: m.n, argv: m.argv }));
      }
      return missing.length;
    },

    forget() {
      held.clear();
      generation++;
    },

    forgetMentioning(what) {
      const hit = mentions(what);
      for (const [k, h] of held) if (hit(h.argv)) held.delete(k);
      generation++;
    },

    async exec(argv: string[], o?: ExecOptions): Promise<ExecResult> {
      // stdin makes it a different command: never served from the cache.
      const hit = o?.stdin === undefined ? take(argv) : undefined;
      if (hit) return { code: hit.code, stdout: hit.stdout.toString('utf8'), stderr: hit.stderr };
      stats.execs++;
      trace(argv.join(' '));
      return inner.exec(argv, o);
    },

    async read(path) {
      // Only a clean answer (the content, or "missing") is served; an error is asked again, the connector's own way.
      const code = held.get(keyOf(readArgv(path)))?.result.code;
      if (code === 0 || code === MISSING_EXIT) {
        const hit = take(readArgv(path))!;
        return hit.code === 0 ? Buffer.from(hit.stdout) : undefined;
      }
      stats.reads++;
      trace(`read ${path}`);
      return inner.read(path);
    },

    async write(path, content, mode) {
      conn.forgetMentioning([path]);
      stats.writes++;
      trace(`write ${path}`);
      return inner.write(path, content, mode);
    },

    close: () => inner.close(),
  };
  return conn;
}
