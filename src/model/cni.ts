/**
 * CNI for kubelet (issue 17 item 3), pure: the conflist as kube-flannel.yml writes it and the plugin
 * chain a runtime executes from it. One deliberate difference: when flanctl (not flanneld) does the
 * masquerade (iptables.masquerade tightened or none), flanneld runs without -ip-masq, so
 * subnet.env says FLANNEL_IPMASQ=false and the flannel plugin would tell `bridge` to masquerade
 * everything leaving the node's subnet, pod → pod on other nodes included. flanctl then writes
 * `"ipMasq": false` into the delegate; verify --pods proves the source addresses either way.
 */
import { posix } from 'node:path';
import type { Inventory } from './inventory.js';

export const CNI_NETWORK_NAME = 'cbr0';
export const CNI_VERSION = '0.3.1';
export const CONFLIST_NAME = '10-flannel.conflist';
/** The reference plugins the flannel conflist needs besides flannel itself. */
export const REFERENCE_PLUGINS = ['bridge', 'host-local', 'portmap'] as const;
/** Where Debian/Ubuntu's containernetworking-plugins package puts them. */
export const SYSTEM_CNI_DIR = '/usr/lib/cni';

export const conflistPath = (inv: Inventory) => posix.join(inv.cni.confDir, CONFLIST_NAME);

export function renderConflist(inv: Inventory): string {
  const delegate: Record<string, unknown> = { hairpinMode: true, isDefaultGateway: true };
  if (inv.iptables.masquerade !== 'flannel') delegate.ipMasq = false;
  const doc = {
    name: CNI_NETWORK_NAME,
    cniVersion: CNI_VERSION,
    plugins: [
      { type: 'flannel', delegate },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** Files flanctl installs for CNI on a node (reset removes them). */
export function cniFiles(inv: Inventory): string[] {
  if (!inv.cni.enabled) return [];
  return [conflistPath(inv), ...['flannel', ...REFERENCE_PLUGINS].map((p) => posix.join(inv.cni.binDir, p))];
}

/**
 * The plugin chain of a conflist, each plugin's config as a runtime passes it (name and cniVersion
 * from the list). Throws on anything that is not a conflist with plugins.
 */
export function conflistPlugins(text: string): Array<{ type: string; conf: string }> {
  const doc = JSON.parse(text) as { name?: string; cniVersion?: string; plugins?: Array<Record<string, unknown>> };
  if (!doc || !Array.isArray(doc.plugins) || !doc.plugins.length) throw new Error('not a CNI conflist (no plugins)');
  return doc.plugins.map((p) => {
    if (typeof p.type !== 'string' || !/^[A-Za-z0-9._-]+$/.test(p.type)) throw new Error('a plugin without a plain type');
    return { type: p.type, conf: JSON.stringify({ cniVersion: doc.cniVersion, name: doc.name, ...p }) };
  });
}
