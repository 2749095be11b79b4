/**
 * IPv4 CIDR helpers on top of ipaddr.js. Integers appear only where flannel itself steps through
 * subnets (SubnetMin..SubnetMax in SubnetLen steps).
 */
import ipaddr from 'ipaddr.js';

export interface Cidr {
  /** The network address (host bits cleared), e.g. "10.244.0.0". */
  network: string;
  prefix: number;
  /** The address as written, e.g. "10.244.1.0" for "10.244.1.0/16". */
  address: string;
}

export function isIpv4(text: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(text);
}

/**
 * Parsed CIDRs by text: verify compares every node's routes with every peer's lease (20 nodes: ~10^4
 * parses of a few dozen distinct strings, ~70 ms of CPU through ipaddr.js). Entries are frozen.
 */
const parsed = new Map<string, Readonly<Cidr> | undefined>();

/** "10.244.1.0/16" → {network: "10.244.0.0", prefix: 16, address: "10.244.1.0"}; undefined if not an IPv4 CIDR. */
export function parseCidr(text: string): Readonly<Cidr> | undefined {
  if (parsed.has(text)) return parsed.get(text);
  const [addr, len] = text.split('/');
  const c = !isIpv4(addr ?? '') || !/^\d{1,2}$/.test(len ?? '') || Number(len) > 32
    ? undefined
    : Object.freeze({ network: ipaddr.IPv4.networkAddressFromCIDR(text).toString(), prefix: Number(len), address: addr });
  if (parsed.size >= 4096) parsed.clear();
  parsed.set(text, c);
  return c;
}

export function ipToInt(ip: string): number {
  return ipaddr.IPv4.parse(ip).toByteArray().reduce((n, b) => n * 256 + b, 0);
}

export function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

/** True when ip (dotted IPv4) lies inside cidr. Non-IPv4 input is never inside. */
export function ipInCidr(ip: string, cidr: string): boolean {
  const c = parseCidr(cidr);
  if (!c || !isIpv4(ip)) return false;
  return ipaddr.IPv4.parse(ip).match(ipaddr.IPv4.parse(c.network), c.prefix);
}

/** True when two CIDRs share at least one address. */
export function cidrsOverlap(a: string, b: string): boolean {
  const x = parseCidr(a);
  const y = parseCidr(b);
  if (!x || !y) return false;
  return ipInCidr(x.network, `${y.network}/${y.prefix}`) || ipInCidr(y.network, `${x.network}/${x.prefix}`);
}

/** Number of addresses in a prefix length. */
export const blockSize = (prefix: number) => 2 ** (32 - prefix);

/** True when ip is the first address of a /len block. */
export function isAligned(ip: string, len: number): boolean {
  return ipToInt(ip) % blockSize(len) === 0;
}

/**
 * A prefix as iproute2 prints route destinations: "a.b.c.d/n", or a bare address meaning /32.
 * undefined for "default", IPv6 or anything else.
 */
export function parsePrefix(text: string): Cidr | undefined {
  return parseCidr(text.includes('/') ? text : `${text}/32`);
}

/** True when every address of `inner` lies inside `outer` (bare addresses count as /32). */
export function cidrWithin(inner: string, outer: string): boolean {
  const i = parsePrefix(inner);
  const o = parsePrefix(outer);
  return !!i && !!o && i.prefix >= o.prefix && ipInCidr(i.network, `${o.network}/${o.prefix}`);
}

/** "10.244.7.9/16" → "10.244.0.0/16"; a bare address becomes its /32; anything else is returned as is. */
export function normaliseCidr(text: string): string {
  const c = parsePrefix(text);
  return c ? `${c.network}/${c.prefix}` : text;
}

/** The last address of a CIDR. */
export function lastAddress(cidr: string): string {
  return ipaddr.IPv4.broadcastAddressFromCIDR(cidr).toString();
}
