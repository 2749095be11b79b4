/**
 * Cluster-wide: `<prefix>/config` written through the inventory's API (v3 or v2) only when it
 * differs (compared as JSON, key order ignored). A different Backend.Type is refused: changing the
 * backend needs `flanctl switch-backend` (stop everywhere, clean up, start, verify, roll back).
 */
import { FlanctlError } from '../errors.js';
import { configMatches, networkConfigText, prettyJson, redactConfigText } from '../model/flannel-config.js';
import type { Inventory } from '../model/inventory.js';
import { configKey } from '../model/leases.js';
import type { Step } from '../engine/step.js';
import { needKv, shortDiff } from './util.js';
import { applyNetworkConfig } from '../kv/flannel-keys.js';

export interface ClusterState {
  /** Set by the etcd-config step when an existing config changes: flanneld reads it only at start. */
  configUpdated: boolean;
}

function backendType(text: string | undefined): string | undefined {
  try {
    const t = (JSON.parse(text ?? '') as { Backend?: { Type?: unknown } }).Backend?.Type;
    return typeof t === 'string' ? t.toLowerCase() : 'udp'; // flanneld's default when Backend is missing
  } catch {
    return undefined;
  }
}

/** The stored text with secrets (wireguard PSK, any key spelling) replaced, for display only. */
const redacted = (text: string): string => redactConfigText(text);

export function etcdConfigStep(inv: Inventory, state: ClusterState): Step {
  const id = 'etcd:config';
  const key = configKey(inv.etcd.prefix);
  return {
    id,
    title: `network config (etcd ${inv.etcd.api})`,
    async check(ctx) {
      const kv = needKv(ctx, id);
      const before = await kv.get(key);
      const after = networkConfigText(inv);
      if (configMatches(before, after)) return undefined;
      const want = inv.network.backend.type;
      const have = before === undefined ? undefined : backendType(before);
      if (have && have !== want) {
        throw new FlanctlError(`${key} says backend ${have}, the inventory says ${want}`, {
          hint: `Change the backend with \`flanctl switch-backend ${want}\`, which stops flanneld everywhere, cleans up the old backend and rolls back on failure.`,
        });
      }
      if (before !== undefined) state.configUpdated = true;
      return {
        action: before === undefined ? 'create' : 'update',
        summary: `${key}${before === undefined ? '' : ' (flanneld restarts on every node to read it)'}`,
        diff: shortDiff(before === undefined ? '' : prettyJson(redacted(before)), prettyJson(networkConfigText(inv, { redact: true })), 1, 20),
        apply: async () => {
          await applyNetworkConfig(kv, inv);
        },
      };
    },
  };
}
