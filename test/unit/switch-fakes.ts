/**
 * A fake cluster for switch-backend unit tests: per node a fakeConnector whose `ip` commands act on
 * an in-memory set of links and routes, a memory Kv, and a simulated flanneld (start reads the config,
 * creates its backend's device and routes, writes its lease). Stop leaves everything behind, like
 * flanneld does.
 */
import { fakeConnector, type FakeConnector } from '../../src/connector/fake.js';
import type { Kv, KvEntry } from '../../src/kv/kv.js';
import { configKey, leaseKey } from '../../src/model/leases.js';
import { parseInventory, type Inventory, type NodeSpec } from '../../src/model/inventory.js';
import { describeConfigBackend } from '../../src/switch/backend-desc.js';
import type { IpRoute } from '../../src/switch/iproute.js';

export function memoryKv(): Kv & { data: Map<string, string>; puts: Array<[string, string]> } {
  const data = new Map<string, string>();
  const puts: Array<[string, string]> = [];
  return {
    api: 'memory',
    data,
    puts,
    async get(k) {
      return data.get(k);
    },
    async put(k, v) {
      puts.push([k, v]);
      data.set(k, v);
    },
    async delete(k) {
      return data.delete(k);
    },
    async list(prefix): Promise<KvEntry[]> {
      return [...data].filter(([k]) => k.startsWith(prefix)).map(([key, value]) => ({ key, value, ttl: 86400 }));
    },
    async close() {},
  };
}

export const inventoryText = (backend = 'backend:\n    type: vxlan # the data plane\n') => `# lab
network:
  cidr: 10.244.0.0/16
  ${backend}etcd:
  endpoints: [https://10.77.0.1:2379]
flannel:
  tarball: flannel.tar.gz
  service: supervisord
nodes:
  - { name: node1, host: 10.77.0.11 }
  - { name: node2, host: 10.77.0.12 }
  - { name: node3, host: 10.77.0.13 }
`;

export async function testInventory(text = inventoryText()): Promise<Inventory> {
  return (await parseInventory(text, '/lab/inventory.yaml')).inventory;
}

/** The canonical config text the fake "flannel-config" produces. */
export function fakeConfigText(inv: Inventory): string {
  const b = inv.network.backend;
  const Backend: Record<string, unknown> = { Type: b.type };
  if (b.type === 'vxlan') Object.assign(Backend, { VNI: b.vni, Port: b.port, ...(b.directRouting ? { DirectRouting: true } : {}) });
  return JSON.stringify({ Network: inv.network.cidr, Backend });
}

export interface FakeNode {
  spec: NodeSpec;
  conn: FakeConnector;
  links: Set<string>;
  routes: IpRoute[];
  subnet: string;
  running: boolean;
}

export interface FakeCluster {
  nodes: Map<string, FakeNode>;
  kv: ReturnType<typeof memoryKv>;
  /** "stop node1", "start node2", "put config host-gw", … in order. */
  events: string[];
  startFails: (node: string, backend: string) => boolean;
}

export function fakeCluster(inv: Inventory, initialConfig: string): FakeCluster {
  const kv = memoryKv();
  kv.data.set(configKey(inv.etcd.prefix), initialConfig);
  const cluster: FakeCluster = { nodes: new Map(), kv, events: [], startFails: () => false };
  const origPut = kv.put.bind(kv);
  kv.put = async (k, v) => {
    if (k === configKey(inv.etcd.prefix)) cluster.events.push(`put config ${describeConfigBackend(v)?.type}`);
    return origPut(k, v);
  };
  inv.nodes.forEach((spec, i) => {
    const subnet = `10.244.${i + 1}.0/24`;
    const conn = fakeConnector({ name: spec.name });
    const node: FakeNode = { spec, conn, links: new Set(['lo', 'eth0', 'docker0']), routes: [], subnet, running: false };
    node.routes.push({ dst: '10.77.0.0/24', dev: 'eth0', protocol: 'kernel', scope: 'link', prefsrc: spec.publicIp });
    node.routes.push({ dst: subnet, dev: 'docker0', protocol: 'kernel', scope: 'link', prefsrc: `10.244.${i + 1}.1` });
    conn.on(['true'], { code: 0 });
    conn.on(['ss', '-Hlun'], { stdout: '' });
    conn.on(['ip', '-j', 'link', 'show'], () => ({ stdout: JSON.stringify([...node.links].map((ifname) => ({ ifname }))) }));
    conn.on(['ip', '-4', '-j', 'route', 'show', 'table', 'main'], () => ({ stdout: JSON.stringify(node.routes) }));
    conn.on(['ip', '-j', 'route', 'show', 'table', 'main'], () => ({ stdout: JSON.stringify(node.routes) }));
    conn.on(['ip', '-j', 'addr', 'show', 'dev', 'eth0'], () => ({
      stdout: JSON.stringify([{ ifname: 'eth0', addr_info: [{ family: 'inet', local: spec.publicIp, prefixlen: 24 }] }]),
    }));
    conn.on(['ip', '-j', 'neigh', 'show', 'dev'], { stdout: '[]' });
    conn.on(['bridge', '-j', 'fdb', 'show', 'dev'], { stdout: '[]' });
    conn.on(['ip', 'link', 'del'], (argv) => (node.links.delete(argv[3]) ? { code: 0 } : { code: 1, stderr: `Cannot find device "${argv[3]}"` }));
    conn.on(['ip', 'route', 'del'], (argv) => {
      const idx = node.routes.findIndex((r) => r.dst === argv[3]);
      if (idx < 0) return { code: 2, stderr: 'RTNETLINK answers: No such process' };
      node.routes.splice(idx, 1);
      return { code: 0 };
    });
    cluster.nodes.set(spec.name, node);
  });
  return cluster;
}

/** Simulated flanneld start: program the backend from the config in the kv, write the lease. */
export async function simulateStart(cluster: FakeCluster, inv: Inventory, name: string): Promise<void> {
  const node = cluster.nodes.get(name)!;
  const cfg = describeConfigBackend((await cluster.kv.get(configKey(inv.etcd.prefix)))!)!;
  cluster.events.push(`start ${name}`);
  if (cluster.startFails(name, cfg.type)) throw new Error(`flanneld on ${name} exited at once`);
  node.running = true;
  if (cfg.type === 'vxlan') node.links.add(`flannel.${cfg.vni}`);
  for (const peer of cluster.nodes.values()) {
    if (peer === node) continue;
    const route: IpRoute =
      cfg.type === 'vxlan' && !cfg.directRouting
        ? { dst: peer.subnet, gateway: peer.subnet.split('/')[0], dev: `flannel.${cfg.vni}`, flags: ['onlink'] }
        : { dst: peer.subnet, gateway: peer.spec.publicIp, dev: 'eth0' };
    node.routes = node.routes.filter((r) => r.dst !== peer.subnet);
    node.routes.push(route);
  }
  await cluster.kv.put(leaseKey(inv.etcd.prefix, node.subnet), JSON.stringify({ PublicIP: node.spec.publicIp, BackendType: cfg.type, BackendData: cfg.type === 'vxlan' ? { VNI: cfg.vni } : null }));
}

export function simulateStop(cluster: FakeCluster, name: string): void {
  cluster.events.push(`stop ${name}`);
  cluster.nodes.get(name)!.running = false;
}

/** The switch's stopService on the fake: stop, then the cleanup commands in the same "round trip". */
export async function simulateStopAndClean(cluster: FakeCluster, name: string, afterStop: string[][]) {
  simulateStop(cluster, name);
  const conn = cluster.nodes.get(name)!.conn;
  const actions = [];
  for (const argv of afterStop) {
    const r = await conn.exec(argv);
    actions.push({ code: r.code, stderr: r.stderr });
  }
  return { actions };
}

/** Bring the fake cluster to "bootstrapped on the config in etcd". */
export async function bootFakeCluster(cluster: FakeCluster, inv: Inventory): Promise<void> {
  for (const n of inv.nodes) await simulateStart(cluster, inv, n.name);
  cluster.events.length = 0;
  cluster.kv.puts.length = 0;
}
