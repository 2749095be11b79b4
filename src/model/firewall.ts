/**
 * The backend's traffic between nodes, as a host firewall sees it (issue 16 item 6), and the narrow
 * ACCEPT rules flanctl inserts ahead of a firewall's REJECT/DROP with `iptables.openBackend: true`:
 *   filter INPUT   -s <node public IP> -p udp --dport <backend port> -m comment --comment flanctl -j ACCEPT
 *                  (vxlan, udp, wireguard; ipip: -p 4; host-gw: nothing arrives for the node itself)
 *   filter INPUT   -s <network> -d <network> … -j ACCEPT (decapsulated / routed overlay traffic to the
 *                  node's own overlay addresses: flannel.<VNI>'s .0, the bridge's .1)
 *   filter FORWARD -s <network> / -d <network> -m comment --comment flanctl -j ACCEPT (pod traffic)
 * Pure.
 */
import type { Inventory } from './inventory.js';

export interface BackendTraffic {
  /** What reaches INPUT from the other nodes; undefined for host-gw. */
  input?: { proto: 'udp' | '4'; port?: number; text: string };
  /** Pod traffic crosses FORWARD on every backend (host-gw and DirectRouting: only there). */
  forward: { text: string };
}

export function backendTraffic(inv: Inventory): BackendTraffic {
  const b = inv.network.backend;
  const forward = { text: `forwarded pod traffic of ${inv.network.cidr}` };
  switch (b.type) {
    case 'vxlan': {
      const port = b.port || 8472;
      return { input: { proto: 'udp', port, text: `vxlan traffic (UDP ${port})` }, forward };
    }
    case 'udp':
      return { input: { proto: 'udp', port: b.port, text: `udp backend traffic (UDP ${b.port})` }, forward };
    case 'wireguard':
      return { input: { proto: 'udp', port: b.listenPort, text: `wireguard traffic (UDP ${b.listenPort})` }, forward };
    case 'ipip':
      return { input: { proto: '4', text: 'ipip traffic (IP protocol 4)' }, forward };
    default:
      return { forward };
  }
}

export const FLANCTL_COMMENT_ARGS = ['-m', 'comment', '--comment', 'flanctl'];

/** The rules `iptables.openBackend: true` inserts at the top of INPUT / FORWARD (filter table). */
export function openBackendRules(inv: Inventory): Array<{ chain: 'INPUT' | 'FORWARD'; spec: string[] }> {
  if (!inv.iptables.openBackend) return [];
  const t = backendTraffic(inv);
  const rules: Array<{ chain: 'INPUT' | 'FORWARD'; spec: string[] }> = [];
  if (t.input) {
    const ips = [...new Set(inv.nodes.map((n) => n.publicIp))];
    for (const ip of ips) {
      rules.push({ chain: 'INPUT', spec: ['-s', ip, '-p', t.input.proto, ...(t.input.port ? ['--dport', String(t.input.port)] : []), ...FLANCTL_COMMENT_ARGS, '-j', 'ACCEPT'] });
    }
  }
  rules.push({ chain: 'INPUT', spec: ['-s', inv.network.cidr, '-d', inv.network.cidr, ...FLANCTL_COMMENT_ARGS, '-j', 'ACCEPT'] });
  rules.push({ chain: 'FORWARD', spec: ['-s', inv.network.cidr, ...FLANCTL_COMMENT_ARGS, '-j', 'ACCEPT'] });
  rules.push({ chain: 'FORWARD', spec: ['-d', inv.network.cidr, ...FLANCTL_COMMENT_ARGS, '-j', 'ACCEPT'] });
  return rules;
}
