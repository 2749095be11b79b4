/**
 * Values baked in by build.mjs (esbuild `define`). Under vitest (no bundling) the fallbacks apply.
 *
 * The stand-in emulates three flannel releases (README.md "Emulated releases"); any other version
 * string gets the traits of the nearest emulated one by the rules below.
 */
declare const __STANDIN_VERSION__: string | undefined;

/**
 * Behaviour family: lease JSON, iptables layout, flags, messages.
 *   v0.11 — flannel < 0.14: lease without VNI/PublicIPv6, rules in the built-in chains.
 *   v0.20 — 0.14 … 0.21: FLANNEL-POSTRTG/FLANNEL-FWD, jumps inserted at the top (-I).
 *   v0.22 — ≥ 0.22: jumps appended (-A), per-pod-subnet RETURN rules, -use-multi-cluster-cidr.
 */
export type Flavour = 'v0.11' | 'v0.20' | 'v0.22';

/** The flannel release this build imitates, e.g. "v0.20.2" or "v0.11.0". */
export const standinVersion: string =
  typeof __STANDIN_VERSION__ === 'string' ? __STANDIN_VERSION__ : 'v0.20.2';

/** The three releases the stand-in is built as (lab/flanneld-standin/build.mjs). */
export const EMULATED_RELEASES = ['v0.11.0', 'v0.20.2', 'v0.22.3'] as const;

function parts(version: string): [number, number, number] | undefined {
  const m = /^v?(\d+)\.(\d+)(?:\.(\d+))?/.exec(version);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined;
}

/** v1 < v2 on (major, minor, patch). */
const before = (v: [number, number, number], w: [number, number, number]) =>
  v[0] !== w[0] ? v[0] < w[0] : v[1] !== w[1] ? v[1] < w[1] : v[2] < w[2];

export function flavourOf(version: string): Flavour {
  const v = parts(version);
  if (!v) return 'v0.20';
  if (before(v, [0, 14, 0])) return 'v0.11';
  if (before(v, [0, 22, 0])) return 'v0.20';
  return 'v0.22';
}

/** flannel <= 0.17 speaks etcd v2, >= 0.18 etcd v3 (FLANNEL.md §1). */
export function defaultEtcdApi(version: string): 'v2' | 'v3' {
  const v = parts(version);
  if (!v) return 'v3';
  return before(v, [0, 18, 0]) ? 'v2' : 'v3';
}

/**
 * flannel 0.18.0 … 0.21.2 over etcd v3: watchSubnets reads one watch response, handles only
 * `wresp.Events[0]` and watches again from "now" (it returns CompactRevision, normally 0), so events
 * that arrive together are lost (FLANNEL.md §9; fixed in v0.21.3). The same unchecked `Events[0]`
 * panics when SIGTERM cancels the watch: exit status 2.
 */
export function hasWatchBug(version: string): boolean {
  const v = parts(version);
  return v !== undefined && !before(v, [0, 18, 0]) && before(v, [0, 21, 3]);
}

/** Exit status on SIGTERM/SIGINT: 2 (the panic above) where the watch bug is, else 0 ("Exiting cleanly..."). */
export function sigtermExitStatus(version: string): number {
  return hasWatchBug(version) ? 2 : 0;
}

export const TEST_EQUIPMENT_NOTICE =
  'flanneld stand-in: TEST EQUIPMENT for flanctl labs, not the real flannel (github.com/flannel-io/flannel)';
