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

export async function moduleLoaded(conn: Connector, m: string): Promise<boolean> {
  for (const path of evidence(m)) if ((await conn.exec(['test', '-e', path])).code === 0) return true;
  return false;
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
    async check(ctx) {
      const { conn } = onNode(ctx, 'modules:loaded');
      const loaded = await Promise.all(mods.map((m) => moduleLoaded(conn, m)));
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
