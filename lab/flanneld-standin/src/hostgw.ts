/**
 * host-gw backend (FLANNEL.md §4): no device; per peer lease `<subnet> via <public IP> dev <iface>`
 * (replacing a route with another gateway); routes that go missing are re-added every 10 s.
 * Refuses to start when the public IP is not the interface's address, as flanneld does.
 */
import type { Backend } from './backend.js';
import { formatNet4 } from './ip4.js';
import type { PeerLease } from './lease-format.js';
import type { Logger } from './log.js';
import { must, type ExtIface, type Sys } from './sys.js';

export function hostGwBackend(sys: Sys, log: Logger, ext: ExtIface): Backend {
  const route = (l: PeerLease) => [formatNet4(l.subnet), 'via', l.publicIp, 'dev', ext.name];
  const ours = (l: PeerLease) => l.backendType === 'host-gw';
  return {
    type: 'host-gw',
    mtu: () => ext.mtu,
    async prepare() {
      if (ext.extAddr !== ext.ifaceAddr) {
        throw new Error(
          "your PublicIP differs from interface IP, meaning that probably you're on a NAT, which is not supported by host-gw backend",
        );
      }
      return { publicIp: ext.extAddr, backendType: 'host-gw' };
    },
    async configureOwn() {},
    async addPeer(l) {
      if (!ours(l)) {
        log.warn(`Ignoring non-host-gw subnet: type=${l.backendType ?? ''}`);
        return;
      }
      log.info(`Subnet added: ${formatNet4(l.subnet)} via ${l.publicIp}`);
      await must(sys, ['ip', 'route', 'replace', ...route(l)]);
    },
    async addPeers(leases) {
      for (const l of leases) if (!ours(l)) await this.addPeer(l);
      const mine = leases.filter(ours);
      if (!mine.length) return;
      for (const l of mine) log.info(`Subnet added: ${formatNet4(l.subnet)} via ${l.publicIp}`);
      await must(sys, ['ip', '-batch', '-'], mine.map((l) => `route replace ${route(l).join(' ')}\n`).join(''));
    },
    async removePeer(l) {
      if (!ours(l)) return;
      log.info(`Subnet removed: ${formatNet4(l.subnet)}`);
      await sys.exec(['ip', 'route', 'del', ...route(l)]);
    },
    async resync(peers) {
      // One listing of the routes via the interface (was one `ip route show` per peer every 10 s).
      const r = await sys.exec(['ip', '-j', '-4', 'route', 'show', 'dev', ext.name]);
      const have = new Set(
        r.code === 0 ? (JSON.parse(r.stdout || '[]') as { dst?: string; gateway?: string }[]).map((x) => `${x.dst} ${x.gateway}`) : [],
      );
      for (const l of peers.filter(ours)) {
        if (have.has(`${formatNet4(l.subnet)} ${l.publicIp}`)) continue;
        log.info(`Route to ${formatNet4(l.subnet)} via ${l.publicIp} is missing, adding it back`);
        await sys.exec(['ip', 'route', 'replace', ...route(l)]);
      }
    },
  };
}
