/**
 * `<prefix>/config` decoded with flannel's rules (FLANNEL.md §2): keys matched case-insensitively
 * like Go's encoding/json (exact match preferred, the last matching key wins), unknown keys ignored,
 * SubnetLen/SubnetMin/SubnetMax defaults and checks, a missing Backend means udp, Type lower-cased.
 */
import { formatIp4, maskOf, netSize, parseIp4, parseNet4, contains, type Net4 } from './ip4.js';
import type { Flavour } from './version.js';

export interface NetworkConfig {
  network: Net4;
  subnetLen: number;
  subnetMin: number;
  subnetMax: number;
  /** Lower-cased backend type ("udp" when Backend is missing). */
  backendType: string;
  /** The Backend object as given (options are decoded by each backend with fieldsOf()). */
  backend: Record<string, unknown>;
}

export class ConfigError extends Error {}

type FieldKind = 'string' | 'uint' | 'int' | 'bool' | 'object';

/**
 * Go encoding/json struct decoding, reduced to what flannel's configs use: returns the values of
 * the named fields, matching keys exactly first, then case-insensitively; later keys win.
 */
export function fieldsOf(
  obj: Record<string, unknown>,
  fields: Record<string, FieldKind>,
  structName: string,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const names = Object.keys(fields);
  for (const [key, value] of Object.entries(obj)) {
    const field = names.find((n) => n === key) ?? names.find((n) => n.toLowerCase() === key.toLowerCase());
    if (!field || value === null) continue;
    const kind = fields[field];
    const bad = (what: string) =>
      new ConfigError(`json: cannot unmarshal ${what} into Go struct field ${structName}.${field} of type ${goType(kind)}`);
    const jsType = Array.isArray(value) ? 'array' : typeof value === 'object' ? 'object' : typeof value;
    if (kind === 'string' && jsType !== 'string') throw bad(jsType);
    if (kind === 'bool' && jsType !== 'boolean') throw bad(jsType);
    if (kind === 'object' && jsType !== 'object') throw bad(jsType);
    if (kind === 'uint' || kind === 'int') {
      if (jsType !== 'number') throw bad(jsType);
      const n = value as number;
      if (!Number.isInteger(n) || (kind === 'uint' && n < 0)) throw bad(`number ${n}`);
    }
    out[field] = value;
  }
  return out;
}

const goType = (k: FieldKind) => ({ string: 'string', uint: 'uint', int: 'int', bool: 'bool', object: 'json.RawMessage' })[k];

export function parseNetworkConfig(text: string, flavour: Flavour = 'v0.20'): NetworkConfig {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`error decoding network config: ${(e as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new ConfigError('json: cannot unmarshal non-object into Go value of type subnet.Config');
  }
  const f = fieldsOf(
    doc as Record<string, unknown>,
    {
      EnableIPv4: 'bool',
      EnableIPv6: 'bool',
      Network: 'string',
      IPv6Network: 'string',
      SubnetMin: 'string',
      SubnetMax: 'string',
      SubnetLen: 'uint',
      Backend: 'object',
    },
    'Config',
  );
  if (flavour !== 'v0.11') {
    if (f.EnableIPv4 === false) throw new ConfigError('the flanneld stand-in supports IPv4 networks only (EnableIPv4 is false)');
    if (f.EnableIPv6 === true) throw new ConfigError('the flanneld stand-in does not implement IPv6 (EnableIPv6 is true)');
  }
  if (typeof f.Network !== 'string') throw new ConfigError('please define a correct Network parameter in the flannel config');
  const network = parseNet4(f.Network);
  if (!network) throw new ConfigError(`invalid CIDR address: ${f.Network}`);

  let subnetLen = (f.SubnetLen as number | undefined) ?? 0;
  if (subnetLen > 0) {
    if (subnetLen > 30) throw new ConfigError('SubnetLen must be less than /31');
    if (subnetLen < network.len + 2) throw new ConfigError('network must be able to accommodate at least four subnets');
  } else if (network.len > 28) {
    throw new ConfigError('network is too small. Minimum useful network prefix is /28');
  } else {
    subnetLen = network.len <= 22 ? 24 : network.len + 2;
  }

  const size = netSize(subnetLen);
  const ipField = (name: 'SubnetMin' | 'SubnetMax', def: number): number => {
    const v = f[name];
    if (v === undefined) return def;
    const ip = parseIp4(v as string);
    if (ip === undefined) throw new ConfigError(`invalid IP address: ${v as string}`);
    if (ip === 0) return def;
    if (!contains(network, ip)) throw new ConfigError(`${name} is not in the range of the Network`);
    if (((ip & maskOf(subnetLen)) >>> 0) !== ip) throw new ConfigError(`${name} is not on a SubnetLen boundary: ${formatIp4(ip)}`);
    return ip;
  };
  const subnetMin = ipField('SubnetMin', network.ip + size);
  const subnetMax = ipField('SubnetMax', network.ip + netSize(network.len) - size);

  const backend = (f.Backend as Record<string, unknown> | undefined) ?? undefined;
  let backendType = 'udp';
  if (backend !== undefined) {
    const t = fieldsOf(backend, { Type: 'string' }, 'Backend');
    backendType = ((t.Type as string | undefined) ?? '').toLowerCase();
  }
  return { network, subnetLen, subnetMin, subnetMax, backendType, backend: backend ?? {} };
}

export interface VxlanOptions {
  vni: number;
  port: number;
  gbp: boolean;
  learning: boolean;
  directRouting: boolean;
  /** 0 = use the interface MTU. */
  mtu: number;
}

export function vxlanOptions(backend: Record<string, unknown>): VxlanOptions {
  const f = fieldsOf(
    backend,
    { VNI: 'int', Port: 'int', GBP: 'bool', Learning: 'bool', DirectRouting: 'bool', MTU: 'int' },
    'vxlanBackendConfig',
  );
  return {
    vni: (f.VNI as number | undefined) ?? 1,
    port: (f.Port as number | undefined) ?? 0,
    gbp: (f.GBP as boolean | undefined) ?? false,
    learning: (f.Learning as boolean | undefined) ?? false,
    directRouting: (f.DirectRouting as boolean | undefined) ?? false,
    mtu: (f.MTU as number | undefined) ?? 0,
  };
}
