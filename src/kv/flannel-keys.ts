/**
 * flannel's keys read and written through the Kv seam: the subnet leases and <prefix>/config. The
 * parsing and the config JSON are pure and live in model/; this file adds only the etcd round trips.
 */
import { configMatches, networkConfigText } from '../model/flannel-config.js';
import type { Inventory } from '../model/inventory.js';
import { configKey, parseLease, subnetsPrefix, type Lease } from '../model/leases.js';
import type { Kv } from './kv.js';

/** The leases under <prefix>/subnets; `ttl` when the caller shows or judges their TTLs (see Kv.list). */
export async function listLeases(kv: Kv, prefix: string, opts: { ttl?: boolean } = {}): Promise<Lease[]> {
  const entries = await kv.list(subnetsPrefix(prefix), opts);
  return entries.map((e) => parseLease(prefix, e)).filter((l): l is Lease => l !== undefined);
}

export interface ApplyResult {
  key: string;
  changed: boolean;
  /** The stored value before (undefined when the key did not exist). */
  before?: string;
  after: string;
}

/** Write <prefix>/config only when it differs from the inventory's config. */
export async function applyNetworkConfig(kv: Kv, inv: Inventory): Promise<ApplyResult> {
  const key = configKey(inv.etcd.prefix);
  const after = networkConfigText(inv);
  const before = await kv.get(key);
  if (configMatches(before, after)) return { key, changed: false, before, after };
  await kv.put(key, after);
  return { key, changed: true, before, after };
}
