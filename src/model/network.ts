/**
 * flannel's network rules (FLANNEL.md §2, pkg/subnet/config.go) and the other semantic checks of an
 * inventory that the schema cannot express. Every problem names its YAML path; loadInventory adds
 * the line and throws InventoryError (exit 2).
 */
import type { InventoryProblem } from '../errors.js';
import type { Inventory } from './inventory-schema.js';
import { blockSize, cidrsOverlap, intToIp, ipInCidr, ipToInt, isAligned, isIpv4, parseCidr } from './cidr.js';

export { blockSize, cidrsOverlap, intToIp, ipInCidr, ipToInt, isAligned, isIpv4, normaliseCidr, parseCidr, lastAddress } from './cidr.js';

type NetworkPart = Pick<Inventory, 'network'>;

/** flanneld's SubnetLen: the explicit one, else 24 for prefixes <= /22, else prefix + 2 (/23../28). */
export function defaultSubnetLen(prefix: number): number | undefined {
  if (prefix > 28) return undefined;
  return prefix <= 22 ? 24 : prefix + 2;
}

export function effectiveSubnetLen(inv: NetworkPart): number {
  const prefix = parseCidr(inv.network.cidr)?.prefix ?? 0;
  return inv.network.subnetLen ?? defaultSubnetLen(prefix) ?? prefix + 2;
}

export interface SubnetRange {
  /** Normalised Network, e.g. "10.244.0.0/16". */
  network: string;
  prefix: number;
  subnetLen: number;
  /** SubnetMin / SubnetMax as flanneld computes them (defaults: second and last subnet). */
  min: string;
  max: string;
  /** Usable subnets from min to max inclusive: how many nodes can hold a lease. */
  count: number;
}

export function subnetRange(inv: NetworkPart): SubnetRange {
  const c = parseCidr(inv.network.cidr);
  if (!c) throw new Error(`not an IPv4 CIDR: ${inv.network.cidr}`);
  const subnetLen = effectiveSubnetLen(inv);
  const size = blockSize(subnetLen);
  const base = ipToInt(c.network);
  const min = inv.network.subnetMin ?? intToIp(base + size);
  const max = inv.network.subnetMax ?? intToIp(base + blockSize(c.prefix) - size);
  const span = ipToInt(max) - ipToInt(min);
  return { network: `${c.network}/${c.prefix}`, prefix: c.prefix, subnetLen, min, max, count: span < 0 ? 0 : Math.floor(span / size) + 1 };
}

/** How many nodes the network can give a subnet lease to. */
export function subnetCapacity(inv: NetworkPart): number {
  return subnetRange(inv).count;
}

/** The MTU flanneld reports in FLANNEL_MTU for a backend over an interface MTU (FLANNEL.md §4). */
export function backendMtu(backend: Inventory['network']['backend'], ifaceMtu = 1500): number {
  switch (backend.type) {
    case 'vxlan':
      return (backend.mtu ?? ifaceMtu) - 50;
    case 'ipip':
      return ifaceMtu - 20;
    case 'udp':
      return ifaceMtu - 28;
    case 'wireguard':
      return (backend.mtu ?? ifaceMtu) - 80;
    default:
      return ifaceMtu;
  }
}

/** The CIDR rules exactly as flanneld applies them, plus capacity. */
function cidrProblems(inv: NetworkPart, nodeCount: number): InventoryProblem[] {
  const out: InventoryProblem[] = [];
  const net = inv.network;
  const c = parseCidr(net.cidr);
  if (!c) return [{ path: 'network.cidr', message: `${net.cidr} is not a valid IPv4 CIDR` }];
  if (net.subnetLen !== undefined) {
    if (net.subnetLen > 30) out.push({ path: 'network.subnetLen', message: `/${net.subnetLen} is too long: flanneld requires SubnetLen <= 30 (room for a bridge and a tunnel address)` });
    if (net.subnetLen < c.prefix + 2) {
      out.push({ path: 'network.subnetLen', message: `/${net.subnetLen} in a /${c.prefix} network: flanneld requires SubnetLen >= ${c.prefix + 2} (the network must hold at least four subnets; the first is never used)` });
    }
  } else if (c.prefix > 28) {
    out.push({ path: 'network.cidr', message: `/${c.prefix} is too small: flanneld's minimum useful network prefix is /28` });
  }
  if (out.length) return out;
  const len = effectiveSubnetLen(inv);
  const network = `${c.network}/${c.prefix}`;
  for (const key of ['subnetMin', 'subnetMax'] as const) {
    const ip = net[key];
    if (ip === undefined) continue;
    if (!ipInCidr(ip, network)) out.push({ path: `network.${key}`, message: `${ip} is not inside network ${network}` });
    else if (!isAligned(ip, len)) out.push({ path: `network.${key}`, message: `${ip} is not on a /${len} boundary (SubnetLen); e.g. ${intToIp(ipToInt(ip) - (ipToInt(ip) % blockSize(len)))}` });
  }
  if (net.subnetMin === c.network) {
    out.push({ path: 'network.subnetMin', message: `${c.network} is the first subnet of the network, which flannel never uses; start at ${intToIp(ipToInt(c.network) + blockSize(len))}` });
  }
  if (out.length) return out;
  const range = subnetRange(inv);
  if (ipToInt(range.min) > ipToInt(range.max)) {
    out.push({ path: 'network.subnetMin', message: `${range.min} is above subnetMax ${range.max}: no subnet can be leased` });
  } else if (range.count < nodeCount) {
    const path = net.subnetLen !== undefined ? 'network.subnetLen' : net.subnetMin || net.subnetMax ? (net.subnetMin ? 'network.subnetMin' : 'network.subnetMax') : 'network.cidr';
    out.push({
      path,
      message: `only ${range.count} usable /${len} subnet${range.count === 1 ? '' : 's'} in ${network} (${range.min} .. ${range.max}) for ${nodeCount} nodes; use a longer subnetLen, a larger network or a wider subnetMin..subnetMax`,
    });
  }
  return out;
}

function duplicates<T>(items: T[], key: (t: T) => string | undefined, path: (i: number) => string, what: string): InventoryProblem[] {
  const seen = new Map<string, number>();
  const out: InventoryProblem[] = [];
  items.forEach((item, i) => {
    const k = key(item);
    if (k === undefined) return;
    const first = seen.get(k);
    if (first === undefined) seen.set(k, i);
    else out.push({ path: path(i), message: `duplicate ${what} ${k} (also nodes[${first}])` });
  });
  return out;
}

/** Every semantic problem of a schema-valid inventory; [] when it is fine. */
export function checkNetworkRules(inv: Inventory): InventoryProblem[] {
  const out: InventoryProblem[] = [...cidrProblems(inv, inv.nodes.length)];
  const net = parseCidr(inv.network.cidr);
  const network = net ? `${net.network}/${net.prefix}` : undefined;

  if (inv.network.serviceCidr !== undefined) {
    if (!parseCidr(inv.network.serviceCidr)) out.push({ path: 'network.serviceCidr', message: `${inv.network.serviceCidr} is not a valid IPv4 CIDR` });
    else if (network && cidrsOverlap(network, inv.network.serviceCidr)) {
      out.push({ path: 'network.serviceCidr', message: `${inv.network.serviceCidr} overlaps the flannel network ${network}` });
    }
  }

  inv.nodes.forEach((node, i) => {
    const hostIsIp = isIpv4(node.host);
    if (network && hostIsIp && ipInCidr(node.host, network)) {
      out.push({ path: `nodes[${i}].host`, message: `${node.host} lies inside the flannel network ${network}; pod subnets would shadow the node's own address` });
    }
    if (!isIpv4(node.publicIp)) {
      out.push({ path: `nodes[${i}].publicIp`, message: `required when host is a name (${node.host}): flanneld -public-ip and the lease's PublicIP need an IPv4 address` });
    } else if (network && node.publicIp !== node.host && ipInCidr(node.publicIp, network)) {
      out.push({ path: `nodes[${i}].publicIp`, message: `${node.publicIp} lies inside the flannel network ${network}` });
    }
  });
  out.push(...duplicates(inv.nodes, (n) => n.name, (i) => `nodes[${i}].name`, 'node name'));
  out.push(...duplicates(inv.nodes, (n) => `${n.host}:${n.sshPort ?? inv.ssh.port}`, (i) => `nodes[${i}].host`, 'host'));
  out.push(...duplicates(inv.nodes, (n) => (isIpv4(n.publicIp) ? n.publicIp : undefined), (i) => `nodes[${i}].publicIp`, 'public IP (flannel finds a node\'s lease by it)'));

  inv.etcd.endpoints.forEach((ep, i) => {
    const host = new URL(ep).hostname;
    if (network && isIpv4(host) && ipInCidr(host, network)) out.push({ path: `etcd.endpoints[${i}]`, message: `${host} lies inside the flannel network ${network}` });
  });
  out.push(...etcdSchemeProblems(inv));

  const margin = inv.flannel.subnetLeaseRenewMargin;
  if (margin < 1 || margin > 1439) {
    out.push({ path: 'flannel.subnetLeaseRenewMargin', message: `${margin} minutes: flanneld requires 1..1439 (leases last 24 h)` });
  }
  if (inv.flannel.ipMasq === true && inv.iptables.masquerade === 'tightened') {
    out.push({ path: 'flannel.ipMasq', message: 'true contradicts iptables.masquerade: tightened (use flanneld -ip-masq or the tightened docker rule, not both); set iptables.masquerade: flannel or drop ipMasq' });
  }
  if (inv.flannel.ipMasq === false && inv.iptables.masquerade === 'flannel') {
    out.push({ path: 'flannel.ipMasq', message: 'false contradicts iptables.masquerade: flannel, which means flanneld -ip-masq' });
  }
  const key = inv.pki.flanneld.key;
  if (key.algo === 'rsa' && (key.size < 2048 || key.size > 8192)) out.push({ path: 'pki.flanneld.key.size', message: `${key.size}: RSA keys must be 2048..8192 bits` });
  if (key.algo === 'ecdsa' && ![256, 384, 521].includes(key.size)) out.push({ path: 'pki.flanneld.key.size', message: `${key.size}: ECDSA keys must be 256 (P-256), 384 or 521` });
  return out;
}

/** One scheme for every endpoint (a client must never fall back from https to http); http only when
 * etcd.insecure says so, and never with a secret (the wireguard PSK) in the network config. */
function etcdSchemeProblems(inv: Inventory): InventoryProblem[] {
  const eps = inv.etcd.endpoints;
  const first = new URL(eps[0]).protocol;
  const mixed = eps.findIndex((e) => new URL(e).protocol !== first);
  if (mixed >= 0) {
    return [{ path: `etcd.endpoints[${mixed}]`, message: `${eps[mixed]} mixes ${new URL(eps[mixed]).protocol.slice(0, -1)} with ${first.slice(0, -1)} (${eps[0]}): every endpoint must use the same scheme, so a failed https endpoint never falls back to plain http` }];
  }
  if (first !== 'http:') return [];
  if (!inv.etcd.insecure) {
    return [{ path: 'etcd.endpoints[0]', message: `${eps[0]} is plain http (unencrypted, unauthenticated): use https:// endpoints, or set etcd.insecure: true to accept that` }];
  }
  const b = inv.network.backend;
  if (b.type === 'wireguard' && b.psk) {
    return [{ path: 'network.backend.psk', message: 'a wireguard PSK is a secret and etcd.endpoints are plain http (etcd.insecure: true): flanctl never sends a secret over http; use https:// endpoints' }];
  }
  return [];
}

/** The warning every command prints while etcd.insecure allows plain http. */
export function insecureEtcdWarning(inv: Inventory): string | undefined {
  if (!inv.etcd.endpoints.some((e) => e.startsWith('http://'))) return undefined;
  return `etcd.insecure: etcd at ${inv.etcd.endpoints.join(', ')} is plain http: leases and the network config travel unencrypted and unauthenticated`;
}

/** Things flanneld accepts but an operator likely did not mean. */
export function networkWarnings(inv: Inventory): string[] {
  const out: string[] = [];
  const c = parseCidr(inv.network.cidr);
  if (c && c.address !== c.network) out.push(`network.cidr ${inv.network.cidr} has host bits set; flanneld uses ${c.network}/${c.prefix}`);
  const insecure = insecureEtcdWarning(inv);
  if (insecure) out.push(insecure);
  if (inv.network.backend.type === 'udp') out.push('the udp backend is for debugging only and exists only on amd64 builds of flanneld');
  return out;
}
