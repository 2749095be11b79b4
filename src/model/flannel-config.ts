/**
 * The network config flanneld reads from <prefix>/config (FLANNEL.md §2), in flannel's key spelling.
 * Backend.Type is always written (a missing Backend makes flanneld fall back to udp).
 */
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { UsageError } from '../errors.js';
import { expandPath, type Inventory } from './inventory.js';
import { configKey } from './leases.js';
import { effectiveSubnetLen, normaliseCidr } from './network.js';

export interface FlannelBackendConfig {
  Type: string;
  [option: string]: unknown;
}
export interface FlannelNetworkConfig {
  Network: string;
  SubnetLen: number;
  SubnetMin?: string;
  SubnetMax?: string;
  Backend: FlannelBackendConfig;
}

const REDACTED = '<redacted>';

function backendConfig(inv: Inventory, redact: boolean): FlannelBackendConfig {
  const b = inv.network.backend;
  switch (b.type) {
    case 'vxlan':
      return {
        Type: 'vxlan', VNI: b.vni, Port: b.port, DirectRouting: b.directRouting,
        ...(b.gbp ? { GBP: true } : {}), ...(b.mtu !== undefined ? { MTU: b.mtu } : {}),
      };
    case 'host-gw':
      return { Type: 'host-gw' };
    case 'ipip':
      return { Type: 'ipip', DirectRouting: b.directRouting };
    case 'udp':
      return { Type: 'udp', Port: b.port };
    case 'wireguard': {
      let psk: string | undefined;
      if (b.psk) {
        const file = expandPath(b.psk, dirname(inv.file));
        try {
          psk = redact ? REDACTED : readFileSync(file, 'utf8').trim();
        } catch (err) {
          throw new UsageError(`network.backend.psk: cannot read ${file}: ${(err as Error).message}`, { hint: 'psk is the path of a file holding the WireGuard pre-shared key (wg genpsk).' });
        }
      }
      return {
        Type: 'wireguard', ListenPort: b.listenPort, ...(psk !== undefined ? { PSK: psk } : {}),
        PersistentKeepaliveInterval: b.persistentKeepaliveInterval, ...(b.mtu !== undefined ? { MTU: b.mtu } : {}),
      };
    }
  }
}

/** The config object; secrets (wireguard PSK) replaced by "<redacted>" when redact is set. */
export function networkConfig(inv: Inventory, opts: { redact?: boolean } = {}): FlannelNetworkConfig {
  return {
    Network: normaliseCidr(inv.network.cidr),
    SubnetLen: effectiveSubnetLen(inv),
    ...(inv.network.subnetMin ? { SubnetMin: inv.network.subnetMin } : {}),
    ...(inv.network.subnetMax ? { SubnetMax: inv.network.subnetMax } : {}),
    Backend: backendConfig(inv, opts.redact ?? false),
  };
}

/** The exact value written to <prefix>/config: compact JSON, keys in a fixed order. */
export function networkConfigText(inv: Inventory, opts: { redact?: boolean } = {}): string {
  return JSON.stringify(networkConfig(inv, opts));
}

/** Deep equality of parsed JSON, ignoring key order (what flanneld sees is the same). */
/** Config text (from etcd or the inventory) with every secret replaced, for plans, diffs and messages:
 * any key spelled psk in any case, at any depth. Text that is not JSON gets the same by pattern. */
export function redactConfigText(text: string): string {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (!v || typeof v !== 'object') return v;
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, k.toLowerCase() === 'psk' ? REDACTED : walk(x)]));
  };
  try {
    return JSON.stringify(walk(JSON.parse(text)));
  } catch {
    return text.replace(/("psk"\s*:\s*)"(?:[^"\\]|\\.)*"/gi, `$1"${REDACTED}"`);
  }
}

export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => k in b && sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** True when the stored text already says what `desired` says. */
export function configMatches(current: string | undefined, desired: string): boolean {
  if (current === undefined) return false;
  try {
    return sameJson(JSON.parse(current), JSON.parse(desired));
  } catch {
    return false;
  }
}

/** Pretty JSON for people (two-space indent); non-JSON text is returned as is. */
export function prettyJson(text: string | undefined): string {
  if (text === undefined) return '';
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/** A line diff (LCS) of two texts: lines prefixed "- ", "+ " or "  ". */
export function lineDiff(before: string, after: string): string[] {
  const a = before ? before.split('\n') : [];
  const b = after ? after.split('\n') : [];
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  }
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) out.push(`  ${a[i++]}`), j++;
    else if (j < b.length && (i >= a.length || lcs[i][j + 1] >= lcs[i + 1][j])) out.push(`+ ${b[j++]}`);
    else out.push(`- ${a[i++]}`);
  }
  return out;
}
