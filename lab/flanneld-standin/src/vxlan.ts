/**
 * vxlan backend (FLANNEL.md §4): device flannel.<VNI> (nolearning, local = public IP, dev = iface,
 * dstport Port or 8472, MTU = iface MTU − 50 or MTU option − 50), a compatible existing device is
 * reused (keeps its MAC), address <subnet>.0/32. Per peer lease: permanent ARP, FDB, and
 * `<subnet> via <subnet>.0 dev flannel.<VNI> onlink`; with DirectRouting and the peer on the same
 * L2 (`ip route get <peer>` has no gateway) only `<subnet> via <peer public IP>`.
 */
import type { Backend } from './backend.js';
import type { VxlanOptions } from './config.js';
import { formatIp4, formatNet4, type Net4 } from './ip4.js';
import type { PeerLease } from './lease-format.js';
import type { Logger } from './log.js';
import { must, type ExtIface, type Sys } from './sys.js';

interface LinkInfo {
  address?: string;
  mtu: number;
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> };
}

export function vxlanBackend(sys: Sys, log: Logger, ext: ExtIface, opts: VxlanOptions, network: Net4): Backend {
  const dev = `flannel.${opts.vni}`;
  const port = opts.port || 8472;
  let mtu = 0;
  let mac = '';
  /** Peers we routed directly (DirectRouting), by lease key. */
  const direct = new Set<string>();

  const show = async (): Promise<LinkInfo | undefined> => {
    const r = await sys.exec(['ip', '-d', '-j', 'link', 'show', 'dev', dev]);
    if (r.code !== 0) return undefined;
    return (JSON.parse(r.stdout || '[]') as LinkInfo[])[0];
  };

  const incompatibility = (l: LinkInfo): string | undefined => {
    const d = l.linkinfo?.info_data ?? {};
    if (l.linkinfo?.info_kind !== 'vxlan') return `not a vxlan device (${l.linkinfo?.info_kind ?? 'unknown kind'})`;
    if (d.id !== opts.vni) return `VNI ${String(d.id)} != ${opts.vni}`;
    if (d.local !== ext.extAddr) return `local ${String(d.local)} != ${ext.extAddr}`;
    if (d.link !== ext.name) return `vtep device ${String(d.link)} != ${ext.name}`;
    if (d.port !== port) return `port ${String(d.port)} != ${port}`;
    if (Boolean(d.gbp) !== opts.gbp) return `GBP ${Boolean(d.gbp)} != ${opts.gbp}`;
    return undefined;
  };

  const onSameL2 = async (ip: string): Promise<boolean> => {
    const r = await sys.exec(['ip', '-j', 'route', 'get', ip]);
    if (r.code !== 0) return false;
    const route = (JSON.parse(r.stdout || '[]') as { gateway?: string }[])[0];
    return route !== undefined && route.gateway === undefined;
  };

  return {
    type: 'vxlan',
    mtu: () => mtu,
    async prepare() {
      log.info(
        `VXLAN config: VNI=${opts.vni} Port=${opts.port} GBP=${opts.gbp} Learning=${opts.learning} DirectRouting=${opts.directRouting}`,
      );
      if (opts.mtu) log.warn(`Backend MTU=${opts.mtu} given: only flannel >= v0.21.3 reads this option; the stand-in honours it`);
      let link = await show();
      const why = link ? incompatibility(link) : undefined;
      if (link && why) {
        log.warn(`"${dev}" already exists with incompatible configuration: ${why}; recreating device`);
        await must(sys, ['ip', 'link', 'del', dev]);
        link = undefined;
      }
      if (!link) {
        const want = (opts.mtu || ext.mtu) - 50;
        await must(sys, [
          'ip', 'link', 'add', dev, 'mtu', String(want), 'type', 'vxlan', 'id', String(opts.vni),
          'local', ext.extAddr, 'dev', ext.name, 'dstport', String(port),
          opts.learning ? 'learning' : 'nolearning', ...(opts.gbp ? ['gbp'] : []),
        ]);
        link = await show();
        if (!link) throw new Error(`${dev} was created but cannot be read back`);
      }
      mtu = link.mtu;
      mac = link.address ?? '';
      return { publicIp: ext.extAddr, backendType: 'vxlan', vxlan: { vni: opts.vni, vtepMac: mac } };
    },
    async configureOwn(subnet) {
      const want = `${formatIp4(subnet.ip)}/32`;
      const r = JSON.parse(await must(sys, ['ip', '-j', '-4', 'addr', 'show', 'dev', dev])) as {
        addr_info?: { family: string; local: string; prefixlen: number }[];
      }[];
      const have = (r[0]?.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`);
      for (const a of have) if (a !== want) await must(sys, ['ip', 'addr', 'del', a, 'dev', dev]);
      if (!have.includes(want)) await must(sys, ['ip', 'addr', 'add', want, 'dev', dev]);
      await must(sys, ['ip', 'link', 'set', dev, 'up']);
      log.info(`${dev} up with ${want} (network ${formatNet4(network)})`);
    },
    async addPeers(leases) {
      // DirectRouting asks the kernel about each peer first, and odd leases get their own messages: those
      // go one by one; the plain vxlan peers are programmed in three batches, in addPeer's order.
      const plain = leases.filter((l) => l.backendType === 'vxlan' && !opts.directRouting && l.vtepMac);
      for (const l of leases) if (!plain.includes(l)) await this.addPeer(l);
      if (!plain.length) return;
      for (const l of plain) {
        direct.delete(l.key);
        log.info(`Subnet added: ${formatNet4(l.subnet)} via ${l.publicIp} (VtepMAC ${l.vtepMac})`);
      }
      const lines = (f: (l: PeerLease) => string) => `${plain.map(f).join('\n')}\n`;
      await must(sys, ['ip', '-batch', '-'], lines((l) => `neigh replace ${formatIp4(l.subnet.ip)} lladdr ${l.vtepMac} dev ${dev} nud permanent`));
      await must(sys, ['bridge', '-batch', '-'], lines((l) => `fdb replace ${l.vtepMac} dev ${dev} dst ${l.publicIp} self permanent`));
      await must(sys, ['ip', '-batch', '-'], lines((l) => `route replace ${formatNet4(l.subnet)} via ${formatIp4(l.subnet.ip)} dev ${dev} onlink`));
    },
    async addPeer(l) {
      if (l.backendType !== 'vxlan') {
        log.warn(`ignoring non-vxlan v4Subnet(${formatNet4(l.subnet)}): type=${l.backendType ?? ''}`);
        return;
      }
      const sn = formatNet4(l.subnet);
      const gw = formatIp4(l.subnet.ip);
      if (opts.directRouting && (await onSameL2(l.publicIp))) {
        log.info(`Adding direct route to subnet: ${sn} PublicIP: ${l.publicIp}`);
        await must(sys, ['ip', 'route', 'replace', sn, 'via', l.publicIp]);
        direct.add(l.key);
        return;
      }
      if (!l.vtepMac) {
        log.error(`error decoding subnet lease JSON: no VtepMAC in lease ${sn}`);
        return;
      }
      direct.delete(l.key);
      log.info(`Subnet added: ${sn} via ${l.publicIp} (VtepMAC ${l.vtepMac})`);
      await must(sys, ['ip', 'neigh', 'replace', gw, 'lladdr', l.vtepMac, 'dev', dev, 'nud', 'permanent']);
      await must(sys, ['bridge', 'fdb', 'replace', l.vtepMac, 'dev', dev, 'dst', l.publicIp, 'self', 'permanent']);
      await must(sys, ['ip', 'route', 'replace', sn, 'via', gw, 'dev', dev, 'onlink']);
    },
    async removePeer(l) {
      if (l.backendType !== 'vxlan') return;
      const sn = formatNet4(l.subnet);
      const gw = formatIp4(l.subnet.ip);
      log.info(`Subnet removed: ${sn}`);
      if (direct.delete(l.key)) {
        await sys.exec(['ip', 'route', 'del', sn, 'via', l.publicIp]);
        return;
      }
      await sys.exec(['ip', 'neigh', 'del', gw, 'dev', dev]);
      if (l.vtepMac) await sys.exec(['bridge', 'fdb', 'del', l.vtepMac, 'dev', dev, 'dst', l.publicIp, 'self']);
      await sys.exec(['ip', 'route', 'del', sn, 'via', gw, 'dev', dev, 'onlink']);
    },
  };
}
