/**
 * Pings: one remote command per node runs every ping of that node at once (`ping -c1 -W1` per
 * target, in the background), so an N-node check costs one round of exec plus one second at worst.
 * The script is a constant run by `sh -c`; targets and options travel as argv (one argv for the same
 * pings, so verify can send it in the node's facts batch and be answered from there).
 * Also the temporary flanctl-probe interface for host-gw nodes without a bridge holding their `.1`.
 */
import type { Connector } from '../connector/connector.js';
import { PROBE_IFACE } from './targets.js';

/**
 * $1 = source address or "-", $2 = payload size for `-M do -s` or "0", then the targets. Apart from
 * mktemp, rm and the pings themselves only shell builtins run (20 pod pings on each of 20 nodes at
 * once made the subshell and `cat` forks per target cost more than the pings): each exit status comes
 * from `wait <pid>`, each output is copied with `read`.
 */
export const PING_SCRIPT = `set -f
src=$1; size=$2; shift 2
d=$(mktemp -d) || exit 70
opts='-n -c1 -W1'
[ "$src" = - ] || opts="$opts -I $src"
[ "$size" = 0 ] || opts="$opts -M do -s $size"
i=0
for t in "$@"; do
  i=$((i+1))
  ping $opts "$t" >"$d/$i" 2>&1 &
  eval "p$i=$!"
done
i=0
for t in "$@"; do
  i=$((i+1))
  eval "wait \\$p$i"
  printf '@@flanctl-ping %s %s\\n' "$t" "$?"
  while IFS= read -r l || [ -n "$l" ]; do printf '%s\\n' "$l"; done <"$d/$i"
done
rm -rf "$d"
`;

export interface PingResult {
  target: string;
  ok: boolean;
  rttMs?: number;
  error?: string;
}

export interface PingOptions {
  /** Source address (`ping -I`). */
  source?: string;
  /** Payload size with the don't-fragment bit (`-M do -s`), for MTU checks. */
  size?: number;
}

export const PING_TAG = 'flanctl-ping';

export function pingArgv(targets: string[], opts: PingOptions = {}): string[] {
  return ['sh', '-c', PING_SCRIPT, PING_TAG, opts.source ?? '-', String(opts.size ?? 0), ...targets];
}

/** Why a ping failed, in one line, from its output. */
function pingError(code: number, body: string): string {
  if (code === 127) return 'ping not found on the node';
  const lines = body.split('\n').map((l) => l.trim()).filter(Boolean);
  const explicit = lines.find((l) => /^ping:|^From |unreachable|too long|Frag needed/i.test(l));
  if (explicit) return explicit.replace(/^From \S+ icmp_seq=\d+ /, '');
  if (lines.some((l) => / 0 received/.test(l))) return 'no reply within 1 s';
  return lines[lines.length - 1] ?? `ping exited ${code}`;
}

/** Parse the script's output; every requested target gets a result. */
export function parsePingOutput(stdout: string, targets: string[]): PingResult[] {
  const found = new Map<string, PingResult>();
  const blocks = stdout.split(/^@@flanctl-ping /m).slice(1);
  for (const block of blocks) {
    const nl = block.indexOf('\n');
    const [target, rc] = (nl < 0 ? block : block.slice(0, nl)).trim().split(/\s+/);
    const body = nl < 0 ? '' : block.slice(nl + 1);
    const code = Number(rc);
    const rtt = /time[=<]\s*([\d.]+)\s*ms/.exec(body);
    found.set(target, code === 0
      ? { target, ok: true, rttMs: rtt ? Number(rtt[1]) : undefined }
      : { target, ok: false, error: pingError(code, body) });
  }
  return targets.map((t) => found.get(t) ?? { target: t, ok: false, error: 'no result from the ping script' });
}

/** Ping all targets from one node in one remote command. Never throws: failures become results. */
export async function pingAll(conn: Connector, targets: string[], opts: PingOptions = {}): Promise<PingResult[]> {
  if (!targets.length) return [];
  try {
    const r = await conn.exec(pingArgv(targets, opts), { timeoutMs: 20_000 });
    if (r.code !== 0 && !r.stdout.includes('@@flanctl-ping')) {
      const why = (r.stderr || r.stdout).trim().split('\n').pop() || `exit ${r.code}`;
      return targets.map((target) => ({ target, ok: false, error: `ping script failed: ${why}` }));
    }
    return parsePingOutput(r.stdout, targets);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return targets.map((target) => ({ target, ok: false, error: `ping script failed: ${why}` }));
  }
}

export interface ProbeInterface {
  node: string;
  iface: typeof PROBE_IFACE;
  address: string;
  /** The link type that worked: dummy where the kernel has it, else an empty bridge. */
  linkType?: 'dummy' | 'bridge';
  created: boolean;
  removed: boolean;
  error?: string;
}

const lastLine = (s: string) => s.trim().split('\n').pop() ?? '';

/**
 * $1 = the interface, $2 = the address: a leftover from an interrupted run removed, the link added
 * (dummy where the kernel has it, else an empty bridge), the /32 added, the link up — one round trip.
 * Prints `@fail <command>: <last stderr line>` per failed command, `@created <type>`, `@ok`.
 */
export const PROBE_ADD_SCRIPT = `ip link del "$1" >/dev/null 2>&1
last() { printf '%s' "$1" | tail -n 1; }
t=
for ty in dummy bridge; do
  if e=$(ip link add "$1" type $ty 2>&1); then t=$ty; break; fi
  echo "@fail ip link add $1 type $ty: $(last "$e")"
done
[ -n "$t" ] || exit 0
echo "@created $t"
e=$(ip addr add "$2/32" dev "$1" 2>&1) || { echo "@fail ip addr add $2/32 dev $1: $(last "$e")"; exit 0; }
e=$(ip link set "$1" up 2>&1) || { echo "@fail ip link set $1 up: $(last "$e")"; exit 0; }
echo @ok`;

export const probeAddArgv = (address: string) => ['sh', '-c', PROBE_ADD_SCRIPT, 'flanctl-probe', PROBE_IFACE, address];

/**
 * Add `flanctl-probe` holding `address`/32 (a /32 adds no route, so the node's table is untouched).
 * A leftover from an interrupted run is replaced. Never throws: errors are in the result.
 */
export async function addProbeInterface(conn: Connector, node: string, address: string): Promise<ProbeInterface> {
  const probe: ProbeInterface = { node, iface: PROBE_IFACE, address, created: false, removed: false };
  let out: string;
  try {
    const r = await conn.exec(probeAddArgv(address));
    out = r.stdout;
    if (r.code !== 0 && !out.includes('@')) return { ...probe, error: `adding ${PROBE_IFACE}: ${lastLine(r.stderr) || `exit ${r.code}`}` };
  } catch (err) {
    return { ...probe, error: `adding ${PROBE_IFACE}: ${err instanceof Error ? err.message : String(err)}` };
  }
  const lines = out.split('\n');
  const at = lines.findIndex((l) => l.startsWith('@created '));
  const created = at >= 0 ? lines[at].slice('@created '.length).trim() : undefined;
  if (created === 'dummy' || created === 'bridge') {
    probe.linkType = created;
    probe.created = true;
  }
  // Before the link exists the last failure says why; afterwards only a failure after it counts.
  const fails = lines.slice(probe.created ? at : 0).filter((l) => l.startsWith('@fail ')).map((l) => l.slice('@fail '.length));
  if (fails.length) probe.error = fails[fails.length - 1];
  else if (!probe.created) probe.error = `${PROBE_IFACE}: not created (${lastLine(out) || 'no output'})`;
  return probe;
}

/** Remove the probe interface; true when it is gone afterwards. Never throws. */
export async function removeProbeInterface(conn: Connector, probe: ProbeInterface): Promise<ProbeInterface> {
  try {
    const r = await conn.exec(['ip', 'link', 'del', PROBE_IFACE]);
    const gone = r.code === 0 || /Cannot find device|does not exist/i.test(r.stderr);
    return { ...probe, removed: gone, error: gone ? probe.error : `ip link del ${PROBE_IFACE}: ${lastLine(r.stderr)}` };
  } catch (err) {
    return { ...probe, removed: false, error: `ip link del ${PROBE_IFACE}: ${err instanceof Error ? err.message : String(err)}` };
  }
}
