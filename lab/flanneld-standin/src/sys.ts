/**
 * Running `ip`, `bridge` and `iptables` (execFile with argv arrays, never a shell) and finding the
 * external interface the way flanneld does (-iface by name or IP, -iface-regex, else the
 * interface of the default route).
 */
import { execFile } from 'node:child_process';
import { parseIp4, parseNet4, type Net4 } from './ip4.js';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Sys {
  /** Runs argv (with `stdin` on its standard input, e.g. `ip -batch -`); resolves for any exit code. */
  exec(argv: string[], stdin?: string): Promise<ExecResult>;
}

export class CommandError extends Error {}

export const realSys: Sys = {
  exec: (argv, stdin) =>
    new Promise((resolve) => {
      const child = execFile(argv[0], argv.slice(1), { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 127) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) || (err && code === 127 ? err.message : '') });
      });
      child.stdin?.on('error', () => {}); // a command that exits early closes its stdin
      child.stdin?.end(stdin ?? '');
    }),
};

/** exec that throws on a non-zero exit. */
export async function must(sys: Sys, argv: string[], stdin?: string): Promise<string> {
  const r = await sys.exec(argv, stdin);
  if (r.code !== 0) throw new CommandError(`${argv.join(' ')}: exit ${r.code}: ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

export interface ExtIface {
  name: string;
  index: number;
  /** The interface's own IPv4 address. */
  ifaceAddr: string;
  /** The public IP (-public-ip, else ifaceAddr). */
  extAddr: string;
  mtu: number;
  /** Networks directly connected through this interface. */
  connected: Net4[];
}

interface IpAddrEntry {
  ifindex: number;
  ifname: string;
  mtu: number;
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

export async function listInterfaces(sys: Sys): Promise<IpAddrEntry[]> {
  return JSON.parse((await must(sys, ['ip', '-j', '-4', 'addr', 'show'])) || '[]') as IpAddrEntry[];
}

const v4 = (e: IpAddrEntry) => (e.addr_info ?? []).filter((a) => a.family === 'inet');

export async function lookupExtIface(
  sys: Sys,
  opts: { iface: string[]; ifaceRegex: string[]; publicIp: string },
): Promise<{ iface: ExtIface; message: string }> {
  const ifaces = await listInterfaces(sys);
  let found: { entry: IpAddrEntry; addr: string } | undefined;
  let how = '';
  for (const want of opts.iface) {
    const byIp = parseIp4(want) !== undefined;
    const entry = ifaces.find((e) => (byIp ? v4(e).some((a) => a.local === want) : e.ifname === want));
    if (!entry) continue;
    const addr = byIp ? want : v4(entry)[0]?.local;
    if (!addr) throw new CommandError(`failed to find IPv4 address for interface ${entry.ifname}`);
    found = { entry, addr };
    how = `Using interface with name ${entry.ifname} and address ${addr}`;
    break;
  }
  if (!found && opts.iface.length > 0 && opts.ifaceRegex.length === 0) {
    throw new CommandError(`Failed to find interface to use that matches the interfaces and/or regexes provided (${opts.iface.join(',')})`);
  }
  if (!found) {
    for (const re of opts.ifaceRegex) {
      const rx = new RegExp(re);
      for (const entry of ifaces) {
        const addr = v4(entry).find((a) => rx.test(a.local))?.local ?? (rx.test(entry.ifname) ? v4(entry)[0]?.local : undefined);
        if (entry.ifname !== 'lo' && addr) {
          found = { entry, addr };
          how = `Using interface with name ${entry.ifname} and address ${addr} (matched -iface-regex ${re})`;
          break;
        }
      }
      if (found) break;
    }
    if (!found && opts.ifaceRegex.length > 0) throw new CommandError('Failed to find interface to use that matches the interfaces and/or regexes provided');
  }
  if (!found) {
    const routes = JSON.parse((await must(sys, ['ip', '-j', '-4', 'route', 'show', 'default'])) || '[]') as { dev?: string }[];
    const dev = routes.find((r) => r.dev)?.dev;
    const entry = dev ? ifaces.find((e) => e.ifname === dev) : undefined;
    const addr = entry ? v4(entry)[0]?.local : undefined;
    if (!entry || !addr) {
      throw new CommandError('Failed to find any valid interface to use: failed to get default interface: Unable to find default route');
    }
    found = { entry, addr };
    how = `Determining IP address of default interface: using ${entry.ifname} and address ${addr}`;
  }
  const connected = v4(found.entry)
    .map((a) => parseNet4(`${a.local}/${a.prefixlen}`))
    .filter((n): n is Net4 => n !== undefined);
  return {
    iface: {
      name: found.entry.ifname,
      index: found.entry.ifindex,
      ifaceAddr: found.addr,
      extAddr: opts.publicIp || found.addr,
      mtu: found.entry.mtu,
      connected,
    },
    message: how,
  };
}
