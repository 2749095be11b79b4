/**
 * The address helpers verify needs, on top of src/network.ts (ipaddr.js). A bare address counts as /32
 * (iproute2 prints host routes without a length).
 */
import { intToIp, ipInCidr, ipToInt, parseCidr as parseNetworkCidr } from '../network.js';

export { ipInCidr };

const withLen = (cidr: string) => (cidr.includes('/') ? cidr : `${cidr}/32`);

/** "10.5.3.7/24" → {base: <10.5.3.0 as an integer>, len: 24}; throws on anything but an IPv4 CIDR. */
export function parseCidr(cidr: string): { base: number; len: number } {
  const c = parseNetworkCidr(withLen(cidr));
  if (!c) throw new Error(`not an IPv4 CIDR: ${cidr}`);
  return { base: ipToInt(c.network), len: c.prefix };
}

/** "10.5.3.7/24" → "10.5.3.0/24" (also accepts a plain address as /32). */
export function normalizeCidr(cidr: string): string {
  const { base, len } = parseCidr(cidr);
  return `${intToIp(base)}/${len}`;
}

/** true when every address of `inner` lies inside `outer`. */
export function cidrInside(inner: string, outer: string): boolean {
  const i = parseCidr(inner);
  return i.len >= parseCidr(outer).len && ipInCidr(intToIp(i.base), outer);
}

/** The n-th address of a CIDR: hostAddress("10.5.3.0/24", 1) → "10.5.3.1". */
export function hostAddress(cidr: string, n: number): string {
  return intToIp(parseCidr(cidr).base + n);
}
