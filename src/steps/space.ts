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

/** Prints "<size now or -1> <free kB> <mount point>" per path given as arguments. */
const SPACE_SCRIPT = `for p in "$@"; do
  c=$(stat -c %s -- "$p" 2>/dev/null || echo -1)
  d=$(dirname -- "$p"); while [ ! -d "$d" ]; do d=$(dirname -- "$d"); done
  df -P -k -- "$d" | awk -v c="$c" 'NR==2 { print c, $4, $6 }'
done`;

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
