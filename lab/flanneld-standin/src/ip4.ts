/** IPv4 arithmetic on unsigned 32-bit numbers (no dependencies: the stand-in is one file). */

export interface Net4 {
  /** Network address as uint32. */
  ip: number;
  len: number;
}

export function parseIp4(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s.trim());
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
}

export function formatIp4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function maskOf(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

/** "10.5.3.7/16" → {ip: 10.5.0.0, len: 16} (normalised to the network address). */
export function parseNet4(s: string): Net4 | undefined {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(s.trim());
  if (!m) return undefined;
  const ip = parseIp4(m[1]);
  const len = Number(m[2]);
  if (ip === undefined || len > 32) return undefined;
  return { ip: (ip & maskOf(len)) >>> 0, len };
}

export const formatNet4 = (n: Net4) => `${formatIp4(n.ip)}/${n.len}`;
export const netSize = (len: number) => 2 ** (32 - len);

export function contains(net: Net4, ip: number): boolean {
  return ((ip & maskOf(net.len)) >>> 0) === net.ip;
}

export function overlaps(a: Net4, b: Net4): boolean {
  const len = Math.min(a.len, b.len);
  return ((a.ip & maskOf(len)) >>> 0) === ((b.ip & maskOf(len)) >>> 0);
}

export const sameNet = (a: Net4, b: Net4) => a.ip === b.ip && a.len === b.len;
