/**
 * What verify reads from a node before judging it: links with addresses and details
 * (`ip -d -j addr show`), the main IPv4 routing table, subnet.env and, for vxlan, the neighbour and
 * FDB entries of flannel.<VNI> (peer-state.ts). All read at once: one round trip (a facts batch,
 * connector/facts.ts) when the connector caches, else one command each. Read-only.
 */
import type { Connector } from '../connector/connector.js';
import { isFactSource } from '../connector/facts.js';
import { readArgv } from '../connector/remote-scripts.js';
import { parseEnvFile } from '../steps/util.js';
import { readVxlanTables, vxlanTablesArgv, type FdbEntry, type Neighbour } from './peer-state.js';
import { parseRoutes, type Route } from './routes.js';

export interface Link {
  name: string;
  mtu: number;
  mac?: string;
  up: boolean;
  /** linkinfo.info_kind: vxlan, bridge, dummy, veth, … */
  kind?: string;
  vxlan?: { id?: number; port?: number; local?: string; learning?: boolean };
  addrs: Array<{ ip: string; prefixLen: number }>;
}

export interface NodeFacts {
  links: Link[];
  routes: Route[];
  /** subnet.env as key → value; undefined when the file does not exist. */
  subnetEnv?: Record<string, string>;
  /** vxlan: flannel.<VNI>'s neighbour and FDB entries (undefined when not read, or the device is missing). */
  neigh?: Neighbour[];
  fdb?: FdbEntry[];
  /** Problems reading any of the above (the checks that need them report these). */
  errors: { links?: string; routes?: string; subnetEnv?: string; vxlan?: string };
}

interface JsonLink {
  ifname: string;
  mtu: number;
  address?: string;
  flags?: string[];
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> } | null;
  addr_info?: Array<{ family: string; local: string; prefixlen: number }>;
}

/** `ip -d -j addr show` → links (IPv4 addresses only). */
export function parseLinks(text: string): Link[] {
  const t = text.trim();
  if (!t) return [];
  const arr = JSON.parse(t) as JsonLink[];
  if (!Array.isArray(arr)) throw new Error('ip -j addr: expected a JSON array');
  return arr.map((l) => {
    const data = l.linkinfo?.info_data ?? {};
    const kind = l.linkinfo?.info_kind;
    return {
      name: l.ifname,
      mtu: l.mtu,
      mac: l.address,
      up: (l.flags ?? []).includes('UP'),
      kind,
      vxlan: kind === 'vxlan'
        ? { id: data.id as number | undefined, port: data.port as number | undefined, local: data.local as string | undefined, learning: data.learning as boolean | undefined }
        : undefined,
      addrs: (l.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => ({ ip: a.local, prefixLen: a.prefixlen })),
    };
  });
}

const why = (r: { code: number; stderr: string; stdout: string }) => (r.stderr || r.stdout).trim().split('\n').pop() || `exit ${r.code}`;
const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

export async function readLinks(conn: Connector): Promise<Link[]> {
  const r = await conn.exec(['ip', '-d', '-j', 'addr', 'show']);
  if (r.code !== 0) throw new Error(`ip -d -j addr show: ${why(r)}`);
  return parseLinks(r.stdout);
}

/** JSON where iproute2 has it (≥ 4.13), else the text form. */
export async function readRoutes(conn: Connector): Promise<Route[]> {
  const j = await conn.exec(['ip', '-j', '-4', 'route', 'show', 'table', 'main']);
  if (j.code === 0 && j.stdout.trim().startsWith('[')) return parseRoutes(j.stdout);
  if (j.code === 0 && !j.stdout.trim()) return [];
  const t = await conn.exec(['ip', '-4', 'route', 'show', 'table', 'main']);
  if (t.code !== 0) throw new Error(`ip -4 route show: ${why(t)}`);
  return parseRoutes(t.stdout);
}

/** What gatherFacts reads (one batch when the connector caches). */
export function gatherReads(subnetFile: string, vxlanDev?: string): string[][] {
  const reads = [['ip', '-d', '-j', 'addr', 'show'], ['ip', '-j', '-4', 'route', 'show', 'table', 'main'], readArgv(subnetFile)];
  return vxlanDev ? [vxlanTablesArgv(vxlanDev), ...reads] : reads;
}

/** `vxlanDev`: also read that device's neighbour and FDB entries (a missing device is not an error here). */
export async function gatherFacts(conn: Connector, subnetFile: string, vxlanDev?: string): Promise<NodeFacts> {
  const facts: NodeFacts = { links: [], routes: [], errors: {} };
  // Fetches only what is not held yet (verify prefetches these with its other reads); failed: each read goes to the wire.
  if (isFactSource(conn)) await conn.prefetch(gatherReads(subnetFile, vxlanDev)).catch(() => {});
  await Promise.all([
    vxlanDev
      ? readVxlanTables(conn, vxlanDev).then(
        (t) => { facts.neigh = t.neigh; facts.fdb = t.fdb; },
        (e) => { if (!/Cannot find device|does not exist/.test(message(e))) facts.errors.vxlan = message(e); },
      )
      : undefined,
    readLinks(conn).then((l) => { facts.links = l; }, (e) => { facts.errors.links = message(e); }),
    readRoutes(conn).then((r) => { facts.routes = r; }, (e) => { facts.errors.routes = message(e); }),
    conn.read(subnetFile).then(
      (b) => { facts.subnetEnv = b === undefined ? undefined : parseEnvFile(b.toString('utf8')); },
      (e) => { facts.errors.subnetEnv = message(e); },
    ),
  ]);
  return facts;
}

/** The interface holding `ip` (the probe interface excluded), if any. */
export function interfaceHolding(links: Link[], ip: string, exclude?: string): string | undefined {
  return links.find((l) => l.name !== exclude && l.addrs.some((a) => a.ip === ip))?.name;
}
