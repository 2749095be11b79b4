/**
 * The facts batch answers many file checks at once: every `statArgv(path)` read of a batch (a file
 * step's "mode + sha256" look, remote-scripts.ts) is fetched by ONE command — one `stat` for all
 * paths and one `openssl dgst -sha256` (or `sha256sum` where there is no openssl) for the regular
 * files — instead of a shell, a stat and a sha256sum per
 * file (at 100 nodes × 10 files that was 3000 processes per batch round on the nodes). Each read is
 * then answered with what its own command would have printed on stdout: "MODE\nSHA  PATH\n" and exit
 * 0; "MODE\n" and exit 1 when the path is not a regular file; nothing and exit 1 when stat failed.
 * A path whose line cannot be told apart (a newline or backslash in it) is left out: it goes to the
 * wire on its own. Anything unexpected in the output leaves every path out.
 */
import { STAT_TAG, statArgv } from './remote-scripts.js';

export const STAT_MANY_TAG = 'flanctl-stat-many';

/** One command's answer as the facts batch frames it (facts.ts RawResult). */
interface RawResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

const STAT_MANY_SCRIPT = `stat -L -c '%a %n' -- "$@" 2>/dev/null
echo @@flanctl-sha
n=$#
for p; do [ -f "$p" ] && set -- "$@" "$p"; done
shift "$n"
[ "$#" -eq 0 ] && exit 0
if command -v openssl >/dev/null 2>&1; then
  openssl dgst -sha256 -r "$@" 2>/dev/null || sha256sum -- "$@" 2>/dev/null
else
  sha256sum -- "$@" 2>/dev/null
fi
exit 0`;

export const statManyArgv = (paths: readonly string[]) => ['sh', '-c', STAT_MANY_SCRIPT, STAT_MANY_TAG, ...paths];

/** The path of a statArgv(path) read that can be grouped, else undefined. */
export function groupablePath(argv: readonly string[]): string | undefined {
  if (argv.length !== 5 || argv[3] !== STAT_TAG) return undefined;
  const p = argv[4];
  if (statArgv(p).some((a, i) => a !== argv[i])) return undefined; // exactly statArgv(p), script included
  return p.startsWith('/') && !/[\n\\]/.test(p) ? p : undefined;
}

/** Per path, the result its own statArgv command would have given; undefined when the output is off. */
export function splitStatMany(paths: readonly string[], r: RawResult): Map<string, RawResult> | undefined {
  if (r.code !== 0) return undefined;
  const [statPart, shaPart, ...rest] = r.stdout.toString('utf8').split('@@flanctl-sha\n');
  if (shaPart === undefined || rest.length) return undefined;
  const want = new Set(paths);
  const modes = new Map<string, string>();
  for (const line of statPart.split('\n').filter(Boolean)) {
    const m = /^([0-7]{1,4}) (\/.*)$/.exec(line);
    if (!m || !want.has(m[2])) return undefined;
    modes.set(m[2], m[1]);
  }
  const shas = new Map<string, string>();
  for (const line of shaPart.split('\n').filter(Boolean)) {
    const m = /^([0-9a-f]{64}) [ *](\/.*)$/.exec(line); // sha256sum "HASH  PATH", openssl -r "HASH *PATH"
    if (!m || !modes.has(m[2])) return undefined;
    shas.set(m[2], m[1]);
  }
  const out = new Map<string, RawResult>();
  for (const p of paths) {
    const mode = modes.get(p);
    const sha = shas.get(p);
    if (mode === undefined) out.set(p, { code: 1, stdout: Buffer.alloc(0), stderr: `stat: cannot stat '${p}'\n` });
    else if (sha === undefined) out.set(p, { code: 1, stdout: Buffer.from(`${mode}\n`), stderr: `sha256sum: ${p}: not a regular file\n` });
    else out.set(p, { code: 0, stdout: Buffer.from(`${mode}\n${sha}  ${p}\n`), stderr: '' });
  }
  return out;
}
