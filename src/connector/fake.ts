/**
 * In-memory Connector for unit tests: a files map with modes, scripted exec responses matched on
 * argv, and a record of every call. Built in: `sha256sum -- <path>` over the files map (so the
 * skip-upload logic works unchanged), `cat <path>`, `test -e|-f <path>`, and the facts batch
 * (facts.ts): each batched command is answered as exec() would answer it, but the batch is recorded
 * as ONE exec call (one round trip), so tests count round trips with execs(). readArgv(path) (a
 * batched Connector.read) is answered from the files map.
 */
import { createHash } from 'node:crypto';
import type { Connector, ExecOptions, ExecResult } from './connector.js';
import { FACTS_TAG } from './facts.js';
import { unquoteShell } from './quote.js';
import { MISSING_EXIT } from './remote-scripts.js';
import { STAT_MANY_TAG } from './stat-group.js';

export interface FakeFile {
  content: Buffer;
  mode: number;
}

/** Matches argv: an exact/prefix array (elements may be RegExps), a RegExp on argv.join(' '), or a predicate. */
export type ArgvMatcher = readonly (string | RegExp)[] | RegExp | ((argv: string[]) => boolean);

export type ExecResponse =
  | Partial<ExecResult>
  | ((argv: string[], opts: ExecOptions | undefined, fake: FakeConnector) => Partial<ExecResult> | Promise<Partial<ExecResult>>);

export type FakeCall =
  | { op: 'exec'; argv: string[]; stdin?: string }
  | { op: 'read'; path: string }
  | { op: 'write'; path: string; mode: number; content: Buffer }
  | { op: 'close' };

export interface FakeConnectorOptions {
  name?: string;
  files?: Record<string, string | Buffer | { content: string | Buffer; mode?: number }>;
  /** Response for exec calls nothing matches; default: exit 127 "no response scripted". */
  defaultExec?: ExecResponse;
}

export interface FakeConnector extends Connector {
  files: Map<string, FakeFile>;
  calls: FakeCall[];
  /** Add a scripted response; later scripts win over earlier ones. `times` limits how often it answers. */
  on(match: ArgvMatcher, response: ExecResponse, times?: number): FakeConnector;
  /** Exec calls only, as argv arrays. */
  execs(): string[][];
  /** Writes only. */
  writes(): Array<{ path: string; mode: number; content: Buffer }>;
  text(path: string): string | undefined;
  closed: boolean;
}

export function argvMatches(match: ArgvMatcher, argv: string[]): boolean {
  if (typeof match === 'function') return match(argv);
  if (match instanceof RegExp) return match.test(argv.join(' '));
  if (match.length > argv.length) return false;
  return match.every((m, i) => (m instanceof RegExp ? m.test(argv[i]) : m === argv[i]));
}

export function fakeConnector(opts: FakeConnectorOptions = {}): FakeConnector {
  const files = new Map<string, FakeFile>();
  for (const [path, v] of Object.entries(opts.files ?? {})) {
    const spec = typeof v === 'string' || Buffer.isBuffer(v) ? { content: v } : v;
    files.set(path, { content: Buffer.from(spec.content), mode: spec.mode ?? 0o644 });
  }
  const scripts: Array<{ match: ArgvMatcher; response: ExecResponse; left: number }> = [];

  const builtin = (argv: string[]): Partial<ExecResult> | undefined => {
    const [cmd, ...rest] = argv;
    const path = rest.filter((a) => a !== '--').at(-1) ?? '';
    if (cmd === 'sha256sum') {
      const f = files.get(path);
      if (!f) return { code: 1, stderr: `sha256sum: ${path}: No such file or directory\n` };
      return { stdout: `${createHash('sha256').update(f.content).digest('hex')}  ${path}\n` };
    }
    if (cmd === 'cat' && rest.length) {
      const f = files.get(path);
      return f ? { stdout: f.content.toString('utf8') } : { code: 1, stderr: `cat: ${path}: No such file or directory\n` };
    }
    if (cmd === 'test' && (rest[0] === '-e' || rest[0] === '-f')) return { code: files.has(path) ? 0 : 1 };
    if (cmd === 'sh' && rest[2] === 'flanctl-read') {
      const f = files.get(path);
      return f ? { stdout: f.content.toString('utf8') } : { code: MISSING_EXIT };
    }
    if (cmd === 'sh' && rest[2] === STAT_MANY_TAG) {
      // stat-group.ts: one stat line per existing path, then sha256sum lines for them.
      const found = rest.slice(3).filter((p) => files.has(p));
      const stat = found.map((p) => `${files.get(p)!.mode.toString(8)} ${p}\n`).join('');
      const sha = found.map((p) => `${createHash('sha256').update(files.get(p)!.content).digest('hex')}  ${p}\n`).join('');
      return { stdout: `${stat}@@flanctl-sha\n${sha}` };
    }
    if (cmd === 'sh' && rest[2] === 'flanctl-litter') {
      // steps/litter.ts: temp files of interrupted writes in the given directories.
      const dirs = new Set(rest.slice(3));
      const litter = [...files.keys()].filter((f) => dirs.has(f.slice(0, f.lastIndexOf('/'))) && /\/(\.[^/]*\.flanctl-[^/]*|\.flanctl\.[^/]*)$/.test(f));
      return { stdout: litter.map((f) => `${f}\n`).join('') };
    }
    return undefined;
  };

  /** An exec's answer (scripted, built in, or the default); not recorded. */
  const respond = async (argv: string[], execOpts: ExecOptions | undefined): Promise<ExecResult> => {
    const unscripted = () => !scripts.some((s) => s.left > 0 && argvMatches(s.match, argv));
    // service-state.ts's status read answers as the node's `supervisorctl status NAME…` would.
    if (argv[0] === 'sh' && argv[3] === 'flanctl-supervisor-status' && unscripted()) {
      argv = ['supervisorctl', 'status', ...argv.slice(4)];
    }
    // Its settle loop (argv[4] = timeout s): that status read again until nothing is STARTING / BACKOFF / STOPPING.
    if (argv[0] === 'sh' && argv[3] === 'flanctl-supervisor-settle' && unscripted()) {
      const status = ['supervisorctl', 'status', ...argv.slice(5)];
      let r = await respond(status, execOpts);
      for (let i = 0; i < 100 && / (STARTING|BACKOFF|STOPPING)\b/.test(r.stdout); i++) r = await respond(status, execOpts);
      return r;
    }
    // service-supervisord.ts's non-blocking start / restart answers as `supervisorctl ACTION NAME…`.
    if (argv[0] === 'sh' && argv[3] === 'flanctl-supervisorctl' && unscripted()) {
      argv = ['supervisorctl', ...argv.slice(4)];
    }
    const script = scripts.find((s) => s.left > 0 && argvMatches(s.match, argv));
    let partial: Partial<ExecResult> | undefined;
    if (script) {
      script.left--;
      partial = typeof script.response === 'function' ? await script.response(argv, execOpts, fake) : script.response;
    } else {
      partial = builtin(argv);
      if (!partial && opts.defaultExec) {
        partial = typeof opts.defaultExec === 'function' ? await opts.defaultExec(argv, execOpts, fake) : opts.defaultExec;
      }
      partial ??= { code: 127, stderr: `fake ${fake.name}: no response scripted for ${JSON.stringify(argv)}` };
    }
    return { code: partial.code ?? 0, stdout: partial.stdout ?? '', stderr: partial.stderr ?? '' };
  };

  const fake: FakeConnector = {
    name: opts.name ?? 'fake',
    files,
    calls: [],
    closed: false,

    on(match, response, times = Infinity) {
      scripts.unshift({ match, response, left: times });
      return fake;
    },

    async exec(argv, execOpts) {
      fake.calls.push({ op: 'exec', argv: [...argv], ...(execOpts?.stdin !== undefined ? { stdin: execOpts.stdin.toString() } : {}) });
      if (argv[0] === 'sh' && argv[3] === FACTS_TAG && !scripts.some((s) => s.left > 0 && argvMatches(s.match, argv))) {
        const heads: string[] = [];
        const data: Buffer[] = [];
        for (const [i, quoted] of argv.slice(4).entries()) {
          const r = await respond(unquoteShell(quoted), undefined);
          const [o, e] = [Buffer.from(r.stdout), Buffer.from(r.stderr)];
          heads.push(`${i} ${r.code} ${o.length} ${e.length}\n`);
          data.push(o, e);
        }
        const out = Buffer.concat([Buffer.from(`${heads.join('')}end ${heads.length}\n`), ...data]);
        return { code: 0, stdout: out.toString('utf8'), stderr: '' };
      }
      return respond(argv, execOpts);
    },

    async read(path) {
      fake.calls.push({ op: 'read', path });
      const f = files.get(path);
      return f ? Buffer.from(f.content) : undefined;
    },

    async write(path, content, mode) {
      const buf = Buffer.from(content);
      fake.calls.push({ op: 'write', path, mode, content: buf });
      files.set(path, { content: buf, mode });
    },

    async close() {
      fake.calls.push({ op: 'close' });
      fake.closed = true;
    },

    execs() {
      return fake.calls.flatMap((c) => (c.op === 'exec' ? [c.argv] : []));
    },

    writes() {
      return fake.calls.flatMap((c) => (c.op === 'write' ? [{ path: c.path, mode: c.mode, content: c.content }] : []));
    },

    text(path) {
      return files.get(path)?.content.toString('utf8');
    },
  };
  return fake;
}
