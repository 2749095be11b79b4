/**
 * The few IPv4 helpers verify needs (ipaddr.js parses; math on 32-bit integers).
 * Kept local to src/verify so verify does not wait on src/network.ts.
 */
import ipaddr from 'ipaddr.js';

export function ipToInt(ip: string): number {
  const b = ipaddr.IPv4.parse(ip).toByteArray();
  return ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
}

export function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

export function parseCidr(cidr: string): { base: number; len: number } {
  const [ip, len] = ipaddr.IPv4.parseCIDR(cidr.includes('/') ? cidr : `${cidr}/32`);
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return { base: (ipToInt(ip.toString()) & mask) >>> 0, len };
}

export function ipInCidr(ip: string, cidr: string): boolean {
  const { base, len } = parseCidr(cidr);
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return ((ipToInt(ip) & mask) >>> 0) === base;
}

/** true when every address of `inner` lies inside `outer`. */
export function cidrInside(inner: string, outer: string): boolean {
  const i = parseCidr(inner);
  const o = parseCidr(outer);
  return i.len >= o.len && ipInCidr(intToIp(i.base), outer);
}

/** The n-th address of a CIDR: hostAddress("10.5.3.0/24", 1) → "10.5.3.1". */
export function hostAddress(cidr: string, n: number): string {
  return intToIp((parseCidr(cidr).base + n) >>> 0);
}

/** "10.5.3.7/24" → "10.5.3.0/24" (also accepts a plain address as /32). */
export function normalizeCidr(cidr: string): string {
  const { base, len } = parseCidr(cidr);
  return `${intToIp(base)}/${len}`;
}
