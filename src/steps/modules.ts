/**
 * Kernel modules flanneld needs: br_netfilter (flanneld >= 0.26 exits without
 * /proc/sys/net/bridge/bridge-nf-call-iptables) and the backend's module (vxlan, ipip, wireguard).
 * Built-in modules count as loaded. Loaded now with modprobe, and at boot via /etc/modules-load.d/.
 */
import { run } from '../connector/connector.js';
import type { Connector } from '../connector/connector.js';
import type { Inventory } from '../model/inventory.js';
import type { Step } from '../engine/step.js';
import { fileStep } from './file.js';
import { onNode } from './util.js';

export const MODULES_LOAD_PATH = '/etc/modules-load.d/flanctl.conf';

export function requiredModules(inv: Inventory): string[] {
  const backend = inv.network.backend.type;
  return ['br_netfilter', ...(backend === 'vxlan' || backend === 'ipip' || backend === 'wireguard' ? [backend] : [])];
}

/** Paths that exist when the module is loaded or built in. */
const evidence = (m: string) => [`/sys/module/${m}`, ...(m === 'br_netfilter' ? ['/proc/sys/net/bridge/bridge-nf-call-iptables'] : [])];

/** The read-only commands moduleAvailable() runs (Step.reads; preflight's batch). */
export const moduleReads = (m: string): string[][] => [...evidence(m).map((p) => ['test', '-e', p]), ['test', '-d', '/sys/module']];

export async function moduleLoaded(conn: Connector, m: string): Promise<boolean> {
  for (const path of evidence(m)) if ((await conn.exec(['test', '-e', path])).code === 0) return true;
  return false;
}

/** Device types whose module can be proven by creating a device (for nodes without a /sys/module view). */
const PROBE_ARGS: Record<string, (id: number) => string[]> = {
  vxlan: (id) => ['type', 'vxlan', 'id', String(id), 'dstport', '4789'],
  ipip: () => ['type', 'ipip'],
  wireguard: () => ['type', 'wireguard'],
};

/** argv that creates and deletes a throwaway device of the module's type, under a unique name. */
export function capabilityProbeArgv(m: string, suffix = Math.random().toString(16).slice(2, 10)): string[] | undefined {
  const args = PROBE_ARGS[m];
  if (!args) return undefined;
  const name = `flpf${suffix.replace(/[^0-9a-f]/g, '').slice(0, 8)}`;
  const id = 1_000_000 + (parseInt(suffix.slice(0, 6), 16) % 15_000_000 || 1);
  return ['sh', '-c', 'ip link add "$0" "$@" || exit 1; ip link del "$0"', name, ...args(id)];
}

/**
 * Containers (e.g. systemd-nspawn) often show neither /sys/module nor a modprobe, although the kernel
 * has the module: when /sys/module is not visible, test the capability itself by creating and deleting
 * a throwaway device of that type (a unique name, nothing left behind).
 */
export async function moduleUsable(conn: Connector, m: string): Promise<boolean> {
  if ((await conn.exec(['test', '-d', '/sys/module'])).code === 0) return false; // the view exists: trust it
  const argv = capabilityProbeArgv(m);
  return !!argv && (await conn.exec(argv)).code === 0;
}

/** Loaded or built in, or (without a /sys/module view) usable. */
export async function moduleAvailable(conn: Connector, m: string): Promise<boolean> {
  return (await moduleLoaded(conn, m)) || (await moduleUsable(conn, m));
}

/** `modprobe -n` (dry run): true when the module could be loaded. Changes nothing. */
export async function moduleLoadable(conn: Connector, m: string): Promise<boolean> {
  return (await conn.exec(['modprobe', '-n', '-q', m])).code === 0;
}

export function moduleSteps(inv: Inventory): Step[] {
  const mods = requiredModules(inv);
  const runtime: Step = {
    id: 'modules:loaded',
    title: `kernel modules ${mods.join(', ')}`,
    reads: () => mods.flatMap(moduleReads),
    async check(ctx) {
      const { conn } = onNode(ctx, 'modules:loaded');
      const loaded = await Promise.all(mods.map((m) => moduleAvailable(conn, m)));
      const missing = mods.filter((_, i) => !loaded[i]);
      if (!missing.length) return undefined;
      return {
        action: 'update',
        summary: `modprobe ${missing.join(' ')}`,
        apply: async () => {
          for (const m of missing) await run(conn, ['modprobe', m]);
        },
      };
    },
  };
  const persisted = fileStep({
    id: 'modules:file',
    title: 'modules-load.d',
    path: MODULES_LOAD_PATH,
    content: `# Managed by flanctl: kernel modules flanneld needs, loaded at boot.\n${mods.join('\n')}\n`,
    mode: 0o644,
  });
  return [persisted, runtime];
}
