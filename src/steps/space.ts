/**
 * Free disk space on a node (issue 10 #4): preflight compares it with what a run will write, and a
 * failed write is explained as `no space left on /opt (8 kB free, 51 kB needed)` instead of the bare
 * SFTP status ("Failure"). One remote script per question: for each path, its current size and the
 * free space and mount point of its nearest existing directory (`df -P -k`).
 */
import type { Connector } from '../connector/connector.js';

export interface SpaceNeed {
  path: string;
  bytes: number;
}

/**
 * Prints "<size now or -1> <free kB> <mount point>" per path given as arguments. Three processes
 * however many paths: one `stat` (sizes, keyed by name), one `df -P -k` over each path's nearest
 * existing directory (found with shell builtins; df prints a line per argument, in order) and one awk
 * that pairs them up (it takes the paths from its arguments, then reads its input).
 */
const SPACE_SCRIPT = `n=$#
for p in "$@"; do
  case "$p" in */*) d=\${p%/*} ;; *) d=. ;; esac
  while [ -n "$d" ] && [ ! -d "$d" ]; do case "$d" in */*) d=\${d%/*} ;; *) d=. ;; esac; done
  set -- "$@" "\${d:-/}"
done
{ stat -c '%s %n' -- "$@" 2>/dev/null; echo @@flanctl-df; shift $n; df -P -k -- "$@"; } | awk -v n=$n '
  BEGIN { for (i = 1; i <= n; i++) p[i] = ARGV[i]; for (i = 1; i < ARGC; i++) delete ARGV[i] }
  !d && $0 == "@@flanctl-df" { d = 1; next }
  !d { s = $1; sub(/^[^ ]* /, ""); size[$0] = s; next }
  ++k > 1 && k - 1 <= n { i = k - 1; print ((p[i] in size) ? size[p[i]] : -1), $4, $6 }' "$@"`;

export const spaceArgv = (paths: string[]) => ['sh', '-c', SPACE_SCRIPT, 'flanctl-space', ...paths];

export function humanBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${Math.max(1, Math.round(n / 1024))} kB`;
  return `${(n / (1 << 20)).toFixed(1)} MB`;
}

export interface SpaceShortage {
  mount: string;
  freeBytes: number;
  neededBytes: number;
}

/** Mount points where the files that will change do not fit. `force` counts every file (a write failed). */
export async function spaceShortages(conn: Connector, needs: SpaceNeed[], opts: { force?: boolean } = {}): Promise<SpaceShortage[]> {
  if (!needs.length) return [];
  const r = await conn.exec(spaceArgv(needs.map((n) => n.path)));
  if (r.code !== 0) return []; // no df / stat: nothing to say (the writes will tell)
  const lines = r.stdout.trim().split('\n');
  const byMount = new Map<string, SpaceShortage>();
  needs.forEach((need, i) => {
    const [cur, freeKb, mount] = (lines[i] ?? '').trim().split(/\s+/);
    if (!mount || Number.isNaN(Number(freeKb))) return;
    const m = byMount.get(mount) ?? { mount, freeBytes: Number(freeKb) * 1024, neededBytes: 0 };
    // An existing file of the same size is most likely unchanged (the step compares sha256 later).
    if (opts.force || Number(cur) !== need.bytes) m.neededBytes += need.bytes;
    byMount.set(mount, m);
  });
  return [...byMount.values()].filter((m) => m.neededBytes > 0 && m.neededBytes > m.freeBytes);
}

export const shortageText = (s: SpaceShortage) => `no space left on ${s.mount} (${humanBytes(s.freeBytes)} free, ${humanBytes(s.neededBytes)} needed)`;
