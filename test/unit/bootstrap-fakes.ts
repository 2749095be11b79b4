/**
 * A simulated cluster for bootstrap's unit tests: per node a fakeConnector (src/connector/fake.ts)
 * whose stat/test/mkdir/chmod/sysctl/iptables/supervisorctl/systemctl/ip commands act on a small
 * model, a memoryKv shared by all nodes, and a simulated flanneld that, when started, takes a lease
 * by PublicIP, writes subnet.env and routes every peer lease it sees at that moment.
 */
import { createHash } from 'node:crypto';
import { fakeConnector, type FakeConnector } from '../../src/connector/fake.js';
import { parseInventory, type Inventory, type NodeSpec } from '../../src/model/inventory.js';
import { memoryKv, type MemoryKv } from '../../src/kv/memory.js';
import { leaseKey } from '../../src/model/leases.js';
import { flanctlRules } from '../../src/steps/iptables.js';
import { leaseSubnetFromEnv, parseEnvFile } from '../../src/steps/util.js';
import { remotePaths } from '../../src/model/templates.js';
import { listLeases } from '../../src/kv/flannel-keys.js';
import { healthzArgv } from '../../src/steps/service.js';

export const inventoryYaml = (opts: { nodes?: number; service?: 'supervisord' | 'systemd'; extra?: string; masquerade?: string } = {}) => `network:
  cidr: 10.244.0.0/16
  backend: { type: vxlan }
etcd:
  endpoints: [https://10.77.0.1:2379]
pki:
  dir: pki
flannel:
  tarball: flannel.tar.gz
  service: ${opts.service ?? 'supervisord'}
iptables:
  masquerade: ${opts.masquerade ?? 'tightened'}
${opts.extra ?? ''}nodes:
${Array.from({ length: opts.nodes ?? 2 }, (_, i) => `  - { name: node${i + 1}, host: 10.77.0.${11 + i} }`).join('\n')}
`;

export async function testInventory(yaml = inventoryYaml(), file = '/lab/inventory.yaml'): Promise<Inventory> {
  return (await parseInventory(yaml, file)).inventory;
}

export interface SimProgram {
  state: 'RUNNING' | 'STOPPED' | 'FATAL' | 'STARTING' | 'BACKOFF';
  pid?: number;
  /** The program section text supervisord last loaded. */
  loaded?: string;
}

export interface SimNode {
  spec: NodeSpec;
  conn: FakeConnector;
  dirs: Set<string>;
  sysctl: Map<string, string>;
  iptables: Set<string>;
  routes: Set<string>;
  /** flannel.1's MAC, and per routed peer subnet the VtepMAC the node programmed (neighbour + FDB). */
  mac: string;
  peerMacs: Map<string, { mac: string; ip: string }>;
  programs: Map<string, SimProgram>;
  systemd: { enabled: boolean; active: boolean; reloaded: number };
  /** Every (re)start of flanneld, in order. */
  starts: number;
  /** Peers flanneld fails to route on its next start (models the v0.20.2 watch bug). */
  dropPeers: Set<string>;
  /** When false, flanneld starts but never takes a lease. */
  leases: boolean;
}

export interface SimCluster {
  inv: Inventory;
  kv: MemoryKv;
  nodes: Map<string, SimNode>;
  node(name: string): SimNode;
}

let pids = 1000;

const ruleKey = (table: string, chain: string, spec: string[]) => `${table} ${chain} ${spec.join(' ')}`;

function sectionOf(text: string | undefined, program: string): string | undefined {
  if (!text) return undefined;
  const m = new RegExp(`\\[program:${program}\\]\\n([\\s\\S]*?)(?=\\n\\[|$)`).exec(text);
  return m?.[1];
}

export function simCluster(inv: Inventory, opts: { supervisordRunning?: boolean } = {}): SimCluster {
  const kv = memoryKv({}, 'memory');
  const nodes = new Map<string, SimNode>();
  const p = remotePaths(inv);
  let nextSubnet = 1;

  const startFlanneld = async (n: SimNode) => {
    n.starts++;
    if (!n.leases) return;
    const leases = await listLeases(kv, inv.etcd.prefix);
    let subnet = leases.find((l) => l.publicIp === n.spec.publicIp)?.subnet;
    if (!subnet) {
      subnet = `10.244.${nextSubnet++}.0/24`;
      await kv.put(leaseKey(inv.etcd.prefix, subnet), JSON.stringify({ PublicIP: n.spec.publicIp, PublicIPv6: null, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: n.mac } }));
      // The other running flanneld see the new lease through their etcd watch.
      for (const m of nodes.values()) {
        if (m !== n && m.starts > 0 && !m.dropPeers.has(subnet)) {
          m.routes.add(subnet);
          m.peerMacs.set(subnet, { mac: n.mac, ip: n.spec.publicIp });
        }
      }
    }
    const [a, len] = subnet.split('/');
    const parts = a.split('.');
    parts[3] = String(Number(parts[3]) + 1);
    n.conn.files.set(inv.flannel.subnetFile, {
      content: Buffer.from(`FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=${parts.join('.')}/${len}\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=${inv.ipMasq}\n`),
      mode: 0o644,
    });
    for (const l of await listLeases(kv, inv.etcd.prefix)) {
      if (l.publicIp !== n.spec.publicIp && !n.dropPeers.has(l.subnet)) {
        n.routes.add(l.subnet);
        n.peerMacs.set(l.subnet, { mac: String(l.backendData?.VtepMAC), ip: l.publicIp });
      }
    }
    n.dropPeers.clear();
  };

  const runScript = (n: SimNode) => {
    const env = n.conn.files.get(inv.flannel.subnetFile);
    const subnet = env && leaseSubnetFromEnv(parseEnvFile(env.content.toString()).FLANNEL_SUBNET);
    if (!subnet) return { code: 1, stderr: 'no subnet.env' };
    const { ensure, absent } = flanctlRules(inv, subnet);
    for (const r of absent) n.iptables.delete(ruleKey(r.table, r.chain, r.spec));
    for (const r of ensure) n.iptables.add(ruleKey(r.table, r.chain, r.spec));
    return { code: 0 };
  };

  for (const spec of inv.nodes) {
    const conn = fakeConnector({ name: spec.name });
    const n: SimNode = {
      spec,
      conn,
      dirs: new Set(['/etc/supervisor/conf.d', '/sys/module/vxlan', '/proc/sys/net/bridge/bridge-nf-call-iptables']),
      sysctl: new Map([['net.ipv4.ip_forward', '0']]),
      iptables: new Set(),
      routes: new Set(),
      mac: `aa:bb:cc:00:00:${String(inv.nodes.indexOf(spec) + 1).padStart(2, '0')}`,
      peerMacs: new Map(),
      programs: new Map(),
      systemd: { enabled: false, active: false, reloaded: 0 },
      starts: 0,
      dropPeers: new Set(),
      leases: true,
    };
    const sup = (name: string) => n.programs.get(name);
    /** subnet.env's token (flanneld-ctl.sh.ts's tok): changes with every flanneld start that writes it. */
    const token_ = () => (conn.files.has(inv.flannel.subnetFile) ? `1 ${n.starts}` : 'none');
    const confText = () => conn.text('/etc/supervisor/conf.d/flanneld.conf');
    const startProgram = async (name: string, prog: SimProgram) => {
      prog.state = 'RUNNING';
      prog.pid = pids++;
      if (name === 'flanneld') await startFlanneld(n);
    };

    conn.on(['sh', '-c', /^stat -L -c %a/], (argv) => {
      const path = argv.at(-1)!;
      const f = conn.files.get(path);
      if (!f) return { code: 1, stderr: `stat: cannot statx '${path}': No such file or directory` };
      return { stdout: `${f.mode.toString(8)}\n${createHash('sha256').update(f.content).digest('hex')}  ${path}\n` };
    });
    conn.on(['test'], (argv) => {
      const path = argv.at(-1)!;
      const isDir = n.dirs.has(path) || [...conn.files.keys()].some((f) => f.startsWith(`${path}/`));
      if (argv[1] === '-d') return { code: isDir ? 0 : 1 };
      return { code: isDir || conn.files.has(path) ? 0 : 1 };
    });
    conn.on(['mkdir'], (argv) => (n.dirs.add(argv.at(-1)!), {}));
    conn.on(['chmod'], (argv) => {
      const f = conn.files.get(argv.at(-1)!);
      if (!f) return { code: 1 };
      f.mode = parseInt(argv[1], 8);
      return {};
    });
    conn.on(['id', '-u'], { stdout: '0\n' });
    conn.on(['ip', '-V'], { stdout: 'ip utility, iproute2-6.1.0\n' });
    conn.on(['modprobe'], { code: 1 });
    conn.on(['ip', '-o', '-4', 'addr', 'show', 'dev'], (argv) =>
      argv.at(-1) === spec.iface ? { stdout: `2: ${spec.iface}    inet ${spec.publicIp}/24 brd 10.77.0.255 scope global ${spec.iface}\n` } : { code: 1, stderr: `Device "${argv.at(-1)}" does not exist.` },
    );
    // What verify's facts (and the peer-state repair) read: links, routes, flannel.1's neighbour/FDB entries.
    const ownSubnet = () => leaseSubnetFromEnv(parseEnvFile(conn.text(inv.flannel.subnetFile) ?? '').FLANNEL_SUBNET);
    conn.on(['ip', '-d', '-j', 'addr', 'show'], () => ({
      stdout: JSON.stringify([
        { ifname: spec.iface, mtu: 1500, flags: ['UP'], address: '02:00:00:00:00:01', addr_info: [{ family: 'inet', local: spec.publicIp, prefixlen: 24 }] },
        ...(n.starts ? [{ ifname: 'flannel.1', mtu: 1450, flags: ['UP'], address: n.mac, linkinfo: { info_kind: 'vxlan', info_data: { id: 1, port: 8472 } }, addr_info: [{ family: 'inet', local: ownSubnet()?.replace(/\/24$/, '') ?? '', prefixlen: 32 }] }] : []),
      ]),
    }));
    conn.on(['ip', '-j', '-4', 'route', 'show'], () => ({
      stdout: JSON.stringify([
        { dst: '10.77.0.0/24', dev: spec.iface, protocol: 'kernel', scope: 'link', flags: [] },
        ...[...n.routes].map((r) => ({ dst: r, gateway: r.split('/')[0], dev: 'flannel.1', flags: ['onlink'] })),
      ]),
    }));
    conn.on(['sh', '-c', /ip -j -4 neigh show dev/], () => {
      if (!n.starts) return { code: 1, stderr: 'Cannot find device "flannel.1"\n' };
      const neigh = [...n.peerMacs].map(([sn, p]) => ({ dst: sn.split('/')[0], lladdr: p.mac, state: ['PERMANENT'] }));
      const fdb = [...n.peerMacs].map(([, p]) => ({ mac: p.mac, dst: p.ip }));
      return { stdout: `${JSON.stringify(neigh)}\n@@flanctl-fdb\n${JSON.stringify(fdb)}\n` };
    });
    conn.on(['sysctl', '-n'], (argv) => ({ stdout: `${n.sysctl.get(argv[2]) ?? ''}\n` }));
    conn.on(['sysctl', '-w'], (argv) => {
      const [k, v] = argv[2].split('=');
      n.sysctl.set(k, v);
      return { stdout: `${k} = ${v}\n` };
    });
    conn.on(['iptables'], (argv) => {
      const [, , , , table, op, chain, ...spec] = argv;
      const key = ruleKey(table, chain, spec);
      if (op === '-C') return { code: n.iptables.has(key) ? 0 : 1 };
      if (op === '-A') n.iptables.add(key);
      if (op === '-D') n.iptables.delete(key);
      return {};
    });
    conn.on(['iptables', '--version'], { stdout: 'iptables v1.8.9 (nf_tables)\n' });
    conn.on([p.iptablesScript], () => runScript(n));
    conn.on(['tail'], { stdout: 'E1123 flanneld: failed to retrieve network config\n' });
    conn.on(['journalctl'], { stdout: 'E1123 flanneld: failed to retrieve network config\n' });

    // supervisord
    conn.on(['supervisorctl', 'pid'], () => (opts.supervisordRunning === false ? { code: 1, stdout: 'unix:///run/supervisor.sock no such file\n' } : { stdout: '42\n' }));
    conn.on(['supervisorctl', 'status'], (argv) => {
      if (opts.supervisordRunning === false) return { code: 4, stdout: 'unix:///run/supervisor.sock no such file\n' };
      const names = argv.slice(2);
      const lines = names.map((name) => {
        const prog = sup(name);
        if (!prog) return `${name}: ERROR (no such process)`;
        return prog.state === 'RUNNING' ? `${name}                 RUNNING   pid ${prog.pid}, uptime 0:00:05` : `${name}                 ${prog.state}     Nov 23 03:00 PM`;
      });
      return { code: names.every((x) => sup(x)?.state === 'RUNNING') ? 0 : 3, stdout: `${lines.join('\n')}\n` };
    });
    const update = async (names: string[]) => {
      const out: string[] = [];
      for (const name of names) {
        const section = sectionOf(confText(), name);
        const prog = sup(name);
        if (section === undefined) {
          // A named group that is gone from the files is stopped and removed.
          if (prog) out.push(`${name}: stopped`, `${name}: removed process group`);
          n.programs.delete(name);
          continue;
        }
        if (!prog) {
          const np: SimProgram = { state: 'STOPPED', loaded: section };
          n.programs.set(name, np);
          await startProgram(name, np);
          out.push(`${name}: added process group`);
        } else if (prog.loaded !== section) {
          prog.loaded = section;
          await startProgram(name, prog);
          out.push(`${name}: stopped`, `${name}: updated process group`);
        }
      }
      return { stdout: `${out.join('\n')}\n` };
    };
    conn.on(['supervisorctl', 'update'], (argv) => update(argv.slice(2)));
    // service-supervisord.ts: subnet.env's token (as the ctl fake spells it), then `supervisorctl update`.
    conn.on(['sh', '-c', /./, 'flanctl-supervisor-update'], async (argv) => {
      const token = token_();
      const r = await update(argv.slice(5));
      return { ...r, stdout: `${token}\n${r.stdout}` };
    });
    conn.on(['supervisorctl', 'start'], async (argv) => {
      const prog = sup(argv[2]);
      if (!prog) return { code: 7, stdout: `${argv[2]}: ERROR (no such process)\n` };
      if (prog.state === 'RUNNING') return { code: 0, stdout: `${argv[2]}: ERROR (already started)\n` };
      await startProgram(argv[2], prog);
      return { stdout: `${argv[2]}: started\n` };
    });
    conn.on(['supervisorctl', 'restart'], async (argv) => {
      const prog = sup(argv[2]);
      if (!prog) return { code: 7, stdout: `${argv[2]}: ERROR (no such process)\n` };
      await startProgram(argv[2], prog);
      return { stdout: `${argv[2]}: stopped\n${argv[2]}: started\n` };
    });

    // flanneld's /healthz, asked from the node (healthzArgv): answers while flanneld runs.
    conn.on(healthzArgv('127.0.0.1', 0).slice(0, 5), () => {
      const serving = n.systemd.active || sup('flanneld')?.state === 'RUNNING';
      return { stdout: serving ? 'curl 0 200\n' : 'curl 7 000\n' };
    });

    // The flanneld-ctl script (src/steps/flanneld-ctl.ts): stop / start / restart / wait, then readiness.
    conn.on(['sh', '-s', '--', 'flanneld-ctl'], async (argv) => {
      const [mgr, action, , , port, since] = argv.slice(4);
      const prog = sup('flanneld');
      const up = () => (mgr === 'systemd' ? n.systemd.active : prog?.state === 'RUNNING');
      const line = (result: string, why = '') => {
        const env = conn.text(inv.flannel.subnetFile);
        const serving = Number(port) > 0 ? (up() ? 'ok' : 'failed') : 'none';
        return { stdout: `@result ${result}\n@why ${why}\n@state ${up() ? 'RUNNING' : 'STOPPED'}\n@token ${token_()}\n@healthz ${serving}\n@backoffs 0\n@ms 1\n${action === 'stop' ? '@links\n\n@routes\n\n' : `@subnetenv\n${env ?? ''}`}` };
      };
      if (action === 'stop') {
        if (mgr === 'systemd') n.systemd.active = false;
        else if (prog) prog.state = 'STOPPED';
        return line('stopped');
      }
      if (action === 'start' || action === 'restart') {
        if (mgr === 'systemd') {
          n.systemd.active = true;
          await startFlanneld(n);
        } else if (prog && (action === 'restart' || prog.state !== 'RUNNING')) await startProgram('flanneld', prog);
      }
      if (!up()) return line('crash', 'flanneld is STOPPED');
      if (!conn.text(inv.flannel.subnetFile)) return line('timeout', `flanneld is RUNNING but has not written ${inv.flannel.subnetFile}`);
      // wait: someone else (re)started flanneld after reading `since`; not rewritten since = not ready.
      if (action === 'wait' && since === token_()) return line('timeout', `flanneld is RUNNING but has not rewritten ${inv.flannel.subnetFile} since it was (re)started`);
      // The script polls /healthz until it answers (here: asks the node's healthz fake up to 10 times).
      for (let i = 0; Number(port) > 0 && i < 10; i++) {
        if ((await conn.exec(healthzArgv('127.0.0.1', Number(port)))).stdout.startsWith('curl 0 200')) return line('ready');
      }
      return Number(port) > 0 ? line('timeout', `flanneld is RUNNING and wrote ${inv.flannel.subnetFile}, but http://127.0.0.1:${port}/healthz does not answer`) : line('ready');
    });

    // systemd
    conn.on(['systemctl', 'is-enabled'], () => (n.systemd.enabled ? { stdout: 'enabled\n' } : { code: 1, stdout: 'disabled\n' }));
    conn.on(['systemctl', 'is-active'], () => (n.systemd.active ? { stdout: 'active\n' } : { code: 3, stdout: 'inactive\n' }));
    conn.on(['systemctl', '--version'], { stdout: 'systemd 252\n' });
    conn.on(['systemctl', 'daemon-reload'], () => (n.systemd.reloaded++, {}));
    conn.on(['systemctl', 'enable'], () => ((n.systemd.enabled = true), {}));
    conn.on(['systemctl', '--no-block'], async () => {
      n.systemd.active = true;
      await startFlanneld(n);
      return {};
    });
    conn.on(['systemctl', 'restart'], async () => {
      n.systemd.active = true;
      await startFlanneld(n);
      return {};
    });

    nodes.set(spec.name, n);
  }
  return {
    inv,
    kv,
    nodes,
    node(name) {
      const n = nodes.get(name);
      if (!n) throw new Error(`no sim node ${name}`);
      return n;
    },
  };
}

/** A StepContext for one node of the sim (touched shared across calls unless given). */
export function ctxFor(sim: SimCluster, name: string, touched = new Set<string>()) {
  const n = sim.node(name);
  return { inventory: sim.inv, node: n.spec, conn: n.conn, kv: sim.kv, touched };
}

/** check → apply (recording the id in touched, like the engine) for a list of steps, in order. */
export async function applySteps(steps: { id: string; check(ctx: ReturnType<typeof ctxFor>): Promise<{ apply(): Promise<void>; action: string; summary: string } | undefined> }[], ctx: ReturnType<typeof ctxFor>) {
  const changed: Array<{ id: string; action: string; summary: string }> = [];
  for (const s of steps) {
    const c = await s.check(ctx);
    if (!c) continue;
    await c.apply();
    ctx.touched.add(s.id);
    changed.push({ id: s.id, action: c.action, summary: c.summary });
  }
  return changed;
}
