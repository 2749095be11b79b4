/**
 * Values baked in by build.mjs (esbuild `define`). Under vitest (no bundling) the fallbacks apply.
 */
declare const __STANDIN_VERSION__: string | undefined;

export type Flavour = 'v0.20' | 'v0.11';

/** The flannel release this build imitates, e.g. "v0.20.2" or "v0.11.0". */
export const standinVersion: string =
  typeof __STANDIN_VERSION__ === 'string' ? __STANDIN_VERSION__ : 'v0.20.2';

/** Behaviour family of a version: lease JSON, iptables layout, default etcd API, messages. */
export function flavourOf(version: string): Flavour {
  const m = /^v?(\d+)\.(\d+)/.exec(version);
  if (!m) return 'v0.20';
  const major = Number(m[1]);
  const minor = Number(m[2]);
  return major === 0 && minor < 14 ? 'v0.11' : 'v0.20';
}

/** flannel <= 0.17 speaks etcd v2, >= 0.18 etcd v3 (FLANNEL.md §1). */
export function defaultEtcdApi(version: string): 'v2' | 'v3' {
  const m = /^v?(\d+)\.(\d+)/.exec(version);
  if (!m) return 'v3';
  return Number(m[1]) === 0 && Number(m[2]) <= 17 ? 'v2' : 'v3';
}

export const TEST_EQUIPMENT_NOTICE =
  'flanneld stand-in: TEST EQUIPMENT for flanctl labs, not the real flannel (github.com/flannel-io/flannel)';
