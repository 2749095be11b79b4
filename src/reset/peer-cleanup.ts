/**
 * What a removed node leaves on its peers (issue 16 item 3): the route to its subnet (via flannel.<VNI>
 * or, host-gw / DirectRouting, via its public IP), the ARP entry for its VTEP address and the FDB
 * entry pointing at its public IP. flanneld drops them when the lease disappears from etcd; this file
 * finds what is still there (pure parsing of `ip -4 -o route`, `ip -4 neigh`, `bridge fdb`) and removes
 * it. Matches only the removed node's subnet, VTEP address/MAC and public IP.
 */
import type { Connector } from '../connector/connector.js';
import { hostAddress, ipInCidr } from '../verify/addr.js';

export interface Gone {
  name: string;
  publicIp: string;
  /** The lease's subnet when known ("10.244.5.0/24"). */
  subnet?: string;
  vtepMac?: string;
  /** The flannel Network: routes via the public IP count only inside it. */
  network: string;
}

export interface Leftover {
  kind: 'route' | 'neighbour' | 'fdb';
  text: string;
  argv: string[];
}

/** Leftovers from the outputs of `ip -4 -o route show`, `ip -4 neigh show` and `bridge fdb show`. */
export function findLeftovers(gone: Gone, out: { routes: string; neigh: string; fdb: string }): Leftover[] {
  const found: Leftover[] = [];
  const vtep = gone.subnet ? hostAddress(gone.subnet, 0) : undefined;
  for (const line of out.routes.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const w = line.split(/\s+/);
    const dest = w[0].includes('/') ? w[0] : `${w[0]}/32`;
    const via = w[w.indexOf('via') + 1];
    const dev = w[w.indexOf('dev') + 1];
    if (dest === gone.subnet || (w.includes('via') && via === gone.publicIp && dest !== 'default' && ipInCidr(dest.split('/')[0], gone.network))) {
      found.push({ kind: 'route', text: line, argv: ['ip', 'route', 'del', w[0], ...(w.includes('via') ? ['via', via] : []), ...(w.includes('dev') ? ['dev', dev] : [])] });
    }
  }
  for (const line of out.neigh.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const w = line.split(/\s+/);
    const mac = w[w.indexOf('lladdr') + 1];
    if (!w.includes('dev') || !/^flannel\./.test(w[w.indexOf('dev') + 1])) continue;
    if ((vtep && w[0] === vtep) || (gone.vtepMac && w.includes('lladdr') && mac.toLowerCase() === gone.vtepMac.toLowerCase())) {
      found.push({ kind: 'neighbour', text: line, argv: ['ip', 'neigh', 'del', w[0], 'dev', w[w.indexOf('dev') + 1]] });
    }
  }
  for (const line of out.fdb.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const w = line.split(/\s+/);
    if (!w.includes('dev') || !w.includes('dst')) continue;
    const dev = w[w.indexOf('dev') + 1];
    if (!/^flannel\./.test(dev)) continue;
    const dst = w[w.indexOf('dst') + 1];
    if (dst === gone.publicIp || (gone.vtepMac && w[0].toLowerCase() === gone.vtepMac.toLowerCase())) {
      found.push({ kind: 'fdb', text: line, argv: ['bridge', 'fdb', 'del', w[0], 'dev', dev, 'dst', dst] });
    }
  }
  return found;
}

export async function observeLeftovers(conn: Connector, gone: Gone): Promise<Leftover[]> {
  const [routes, neigh, fdb] = await Promise.all([
    conn.exec(['ip', '-4', '-o', 'route', 'show']),
    conn.exec(['ip', '-4', 'neigh', 'show']),
    conn.exec(['bridge', 'fdb', 'show']),
  ]);
  return findLeftovers(gone, { routes: routes.stdout, neigh: neigh.stdout, fdb: fdb.code === 0 ? fdb.stdout : '' });
}

/** Remove each leftover; returns what could not be removed (entries already gone count as removed). */
export async function removeLeftovers(conn: Connector, leftovers: Leftover[]): Promise<string[]> {
  const failed: string[] = [];
  for (const l of leftovers) {
    const r = await conn.exec(l.argv);
    if (r.code !== 0 && !/No such|not found|Cannot find|No such process/i.test(r.stderr)) failed.push(`${l.argv.join(' ')}: ${r.stderr.trim()}`);
  }
  return failed;
}
