/**
 * The integer address helpers verify needs, on top of src/cidr.ts. A bare address counts as /32
 * (iproute2 prints host routes without a length).
 */
import { intToIp, ipInCidr, ipToInt, parsePrefix } from '../model/cidr.js';

export { ipInCidr };

/** "10.5.3.7/24" → {base: <10.5.3.0 as an integer>, len: 24}; throws on anything but an IPv4 CIDR. */
export function parseCidr(cidr: string): { base: number; len: number } {
  const c = parsePrefix(cidr);
  if (!c) throw new Error(`not an IPv4 CIDR: ${cidr}`);
  return { base: ipToInt(c.network), len: c.prefix };
}

/** The n-th address of a CIDR: hostAddress("10.5.3.0/24", 1) → "10.5.3.1". */
export function hostAddress(cidr: string, n: number): string {
  return intToIp(parseCidr(cidr).base + n);
}
