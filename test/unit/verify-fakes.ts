/**
 * A simulated flannel cluster for verify's unit tests: fake connectors (src/connector/fake.ts) that
 * answer `ip -d -j addr show`, `ip -j -4 route show`, supervisorctl, iptables -C, the healthz and
 * ping scripts and the probe-interface commands from a small model, plus a memoryKv with leases.
 */
import { fakeConnector, type FakeConnector } from '../../src/connector/fake.js';
import { parseInventory, type Inventory } from '../../src/model/inventory.js';
import { memoryKv, type MemoryKv } from '../../src/kv/memory.js';
import { PING_SCRIPT, PING_TAG, PROBE_ADD_SCRIPT } from '../../src/verify/probes.js';
import { HEALTHZ_SCRIPT } from '../../src/steps/service.js';

export interface SimNode {
  name: string;
  ip: string;
  subnet: string; // "10.244.N.0/24"
  mac: string;
  running: boolean;
  /** iface "eth0" MTU */
  mtu: number;
  /** a docker0 bridge holding .1 */
  bridge: boolean;
  /** flanctl-probe currently exists */
  probe?: string;
  routes: Array<Record<string, unknown>>;
  /** flannel.1's neighbour and FDB entries (`ip -j neigh` / `bridge -j fdb` objects). */
  neigh: Array<Record<string, unknown>>;
  fdb: Array<Record<string, unknown>>;
  iptables: Set<string>;
  conn: FakeConnector;
}

export interface SimOptions {
  nodes?: number;
  backend?: 'vxlan' | 'host-gw';
  directRouting?: boolean;
  bridges?: boolean;
  /** Probe link type the kernel accepts. */
  dummy?: boolean;
  extraYaml?: string;
}

export interface Sim {
  inv: Inventory;
  kv: MemoryKv;
  nodes: SimNode[];
  pool: { get(name: string): Promise<FakeConnector> };
  /** Can `from` reach `to` over the overlay? Default: both have routes to each other. */
  reach: (from: SimNode, to: SimNode) => boolean;
}

const PREFIX = '/coreos.com/network';

export async function simCluster(opts: SimOptions = {}): Promise<Sim> {
  const n = opts.nodes ?? 3;
  const backend = opts.backend ?? 'vxlan';
  const backendYaml = backend === 'vxlan' ? `{ type: vxlan, directRouting: ${!!opts.directRouting} }` : '{ type: host-gw }';
  const yaml = `
network:
  cidr: 10.244.0.0/16
  backend: ${backendYaml}
etcd:
  endpoints: [http://127.0.0.1:2379]
  insecure: true
flannel:
  tarball: flannel.tar.gz
  service: supervisord
iptables:
  bridge: docker0
${opts.extraYaml ?? ''}
nodes:
${Array.from({ length: n }, (_, i) => `  - { name: node${i + 1}, host: 10.77.1.${11 + i} }`).join('\n')}
`;
  const { inventory: inv } = await parseInventory(yaml, '/lab/inventory.yaml');
  const kv = memoryKv();
  const nodes: SimNode[] = inv.nodes.map((node, i) => ({
    name: node.name,
    ip: node.publicIp,
    subnet: `10.244.${i + 1}.0/24`,
    mac: `aa:bb:cc:00:00:0${i + 1}`,
    running: true,
    mtu: 1500,
    bridge: !!opts.bridges,
    routes: [],
    neigh: [],
    fdb: [],
    iptables: new Set(),
    conn: fakeConnector({ name: node.name }),
  }));
  for (const s of nodes) {
    const key = `${PREFIX}/subnets/${s.subnet.replace('/', '-')}`;
    const data = backend === 'vxlan' ? { VNI: 1, VtepMAC: s.mac } : undefined;
    kv.data.set(key, JSON.stringify({ PublicIP: s.ip, PublicIPv6: null, BackendType: backend, ...(data ? { BackendData: data } : {}) }));
    kv.ttls.set(key, 86000);
    const dot1 = s.subnet.replace(/0\/24$/, '1');
    s.conn.files.set(inv.flannel.subnetFile, {
      content: Buffer.from(`FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=${dot1}/24\nFLANNEL_MTU=${backend === 'vxlan' ? 1450 : 1500}\nFLANNEL_IPMASQ=false\n`),
      mode: 0o644,
    });
    s.conn.files.set('/etc/flannel/flanneld.pem', { content: Buffer.from(''), mode: 0o644 });
    s.routes = [{ dst: '10.77.1.0/24', dev: 'eth0', protocol: 'kernel', scope: 'link', flags: [] }];
    for (const p of nodes) {
      if (p === s) continue;
      if (backend === 'vxlan' && opts.directRouting) s.routes.push({ dst: p.subnet, gateway: p.ip, dev: 'eth0', flags: [] });
      else if (backend === 'vxlan') {
        s.routes.push({ dst: p.subnet, gateway: p.subnet.replace(/\/24$/, ''), dev: 'flannel.1', flags: ['onlink'] });
        s.neigh.push({ dst: p.subnet.replace(/\/24$/, ''), lladdr: p.mac, state: ['PERMANENT'] });
        s.fdb.push({ mac: p.mac, dst: p.ip, flags: ['self'], state: 'permanent' });
      }
      else s.routes.push({ dst: p.subnet, gateway: p.ip, dev: 'eth0', flags: [] });
    }
    if (s.bridge) s.routes.push({ dst: s.subnet, dev: 'docker0', protocol: 'kernel', scope: 'link', flags: [] });
    const net = '10.244.0.0/16';
    s.iptables.add(`nat POSTROUTING -s ${s.subnet} ! -d ${net} ! -o docker0 -m comment --comment flanctl -j MASQUERADE`);
    s.iptables.add(`filter FORWARD -s ${net} -m comment --comment flanctl -j ACCEPT`);
    s.iptables.add(`filter FORWARD -d ${net} -m comment --comment flanctl -j ACCEPT`);
  }

  const sim: Sim = {
    inv,
    kv,
    nodes,
    pool: { get: async (name) => nodes.find((s) => s.name === name)!.conn },
    reach: (from, to) => hasRoute(from, to.subnet) && hasRoute(to, from.subnet),
  };
  const hasRoute = (s: SimNode, subnet: string) => s.routes.some((r) => r.dst === subnet);

  const links = (s: SimNode) => {
    const dot = (k: number) => s.subnet.replace(/0\/24$/, String(k));
    const l: Array<Record<string, unknown>> = [
      { ifname: 'lo', mtu: 65536, flags: ['LOOPBACK', 'UP'], addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8 }] },
      { ifname: 'eth0', mtu: s.mtu, flags: ['UP'], address: '02:00:00:00:00:01', linkinfo: { info_kind: 'veth' }, addr_info: [{ family: 'inet', local: s.ip, prefixlen: 24 }] },
    ];
    if (backend === 'vxlan') {
      l.push({ ifname: 'flannel.1', mtu: s.mtu - 50, flags: ['UP'], address: s.mac, linkinfo: { info_kind: 'vxlan', info_data: { id: 1, port: 8472, local: s.ip, learning: false } }, addr_info: [{ family: 'inet', local: dot(0), prefixlen: 32 }] });
    }
    if (s.bridge) l.push({ ifname: 'docker0', mtu: 1500, flags: ['UP'], linkinfo: { info_kind: 'bridge' }, addr_info: [{ family: 'inet', local: dot(1), prefixlen: 24 }] });
    if (s.probe) l.push({ ifname: 'flanctl-probe', mtu: 1500, flags: ['UP'], linkinfo: { info_kind: 'bridge' }, addr_info: s.probe === 'noaddr' ? [] : [{ family: 'inet', local: s.probe, prefixlen: 32 }] });
    return l;
  };

  /** Which node answers `ip` (its flannel .0, or a bridge/probe .1). */
  const owner = (ip: string) =>
    nodes.find((s) => {
      const dot = (k: number) => s.subnet.replace(/0\/24$/, String(k));
      if (backend === 'vxlan') return ip === dot(0);
      return ip === dot(1) && (s.bridge || s.probe === ip);
    });

  for (const s of nodes) {
    s.conn
      .on(['ip', '-d', '-j', 'addr', 'show'], () => ({ stdout: JSON.stringify(links(s)) }))
      .on(['ip', '-j', '-4', 'route', 'show'], () => ({ stdout: JSON.stringify(s.routes) }))
      .on(['sh', '-c', /ip -j -4 neigh show dev/], (argv) =>
        backend === 'vxlan' && argv.at(-1) === 'flannel.1'
          ? { stdout: `${JSON.stringify(s.neigh)}\n@@flanctl-fdb\n${JSON.stringify(s.fdb)}\n` }
          : { code: 1, stderr: `Cannot find device "${argv.at(-1)}"\n` })
      .on(['supervisorctl', 'status', 'flanneld'], () =>
        s.running ? { stdout: 'flanneld                         RUNNING   pid 42, uptime 0:10:00\n' } : { code: 3, stdout: 'flanneld                         STOPPED   Jan 01 00:00 AM\n' })
      .on(['iptables'], (argv) => ({ code: s.iptables.has(`${argv[4]} ${argv.slice(6).join(' ')}`) ? 0 : 1 }))
      .on(['sh', '-c', HEALTHZ_SCRIPT, 'flanctl-healthz'], () => ({ stdout: s.running ? 'curl 0 200\n' : 'curl 7 000\n' }))
      .on(['sh', '-c', PING_SCRIPT, PING_TAG], (argv) => {
        const [src, size, ...targets] = argv.slice(4);
        const out = targets.map((t) => {
          const to = owner(t);
          if (src !== '-' && !links(s).some((l) => (l.addr_info as Array<{ local: string }>).some((a) => a.local === src))) {
            return `@@flanctl-ping ${t} 2\nping: bind: Cannot assign requested address\n`;
          }
          const tooBig = size !== '0' && Number(size) + 28 > (backend === 'vxlan' ? s.mtu - 50 : s.mtu);
          if (to && sim.reach(s, to) && !tooBig) return `@@flanctl-ping ${t} 0\n64 bytes from ${t}: icmp_seq=1 ttl=64 time=0.${to.name.slice(4)}5 ms\n1 packets transmitted, 1 received, 0% packet loss\n`;
          return `@@flanctl-ping ${t} 1\nPING ${t}\n1 packets transmitted, 0 received, 100% packet loss, time 0ms\n`;
        });
        return { stdout: out.join('') };
      })
      // PROBE_ADD_SCRIPT: dummy where the fake kernel has it, else bridge; then the /32 and up.
      .on(['sh', '-c', PROBE_ADD_SCRIPT], (argv) => {
        const out = opts.dummy ? [] : ['@fail ip link add flanctl-probe type dummy: Error: Unknown device type.'];
        s.probe = argv[5];
        out.push(`@created ${opts.dummy ? 'dummy' : 'bridge'}`, '@ok');
        return { stdout: out.join('\n') + '\n' };
      })
      .on(['ip', 'link', 'del', 'flanctl-probe'], () => {
        if (!s.probe) return { code: 1, stderr: 'Cannot find device "flanctl-probe"\n' };
        s.probe = undefined;
        return {};
      });
  }
  return sim;
}
