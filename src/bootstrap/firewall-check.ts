/**
 * Preflight: would the node's host firewall drop the backend's traffic between nodes? (issue 16 item 6)
 * Reads the filter table's INPUT and FORWARD chains (`iptables -S CHAIN`, parsed with reset's splitter,
 * warnings skipped) and walks them in order: the first rule that surely matches the traffic decides.
 * A rule "surely matches" when it has no condition besides the traffic's own protocol/port and
 * comments (an ACCEPT may also name a source range holding every node). So the CentOS default
 * `-A INPUT -j REJECT --reject-with icmp-host-prohibited` after `-m state --state RELATED,ESTABLISHED
 * -j ACCEPT` is found; a REJECT with conditions flanctl cannot judge is not reported. A chain policy
 * of DROP counts when no rule decided. flanctl's own ACCEPT rules (comment "flanctl") always count.
 * firewalld, when running, is asked whether the backend port is open in the zone of the node's iface
 * (flanctl does not change firewalld; iptables.openBackend cannot bypass it).
 */
import type { Connector } from '../connector/connector.js';
import { backendTraffic, type BackendTraffic } from '../model/firewall.js';
import type { Inventory, NodeSpec } from '../model/inventory.js';
import { ipInCidr } from '../model/cidr.js';
import { splitRuleLine } from '../reset/reset-iptables.js';

const NEUTRAL = new Set(['-m', 'comment', '--comment', '--reject-with', '-j']);

/** The first rule deciding the traffic in `chain` (from `iptables -S chain`), or the DROP policy. */
export function decidingRule(saveOutput: string, chain: 'INPUT' | 'FORWARD', traffic: BackendTraffic, nodeIps: string[]): { verdict: 'accept' | 'drop'; rule: string } | undefined {
  let policy: string | undefined;
  for (const line of saveOutput.split('\n').map((l) => l.trim())) {
    const w = splitRuleLine(line);
    if (w[0] === '-P' && w[1] === chain) policy = w[2];
    if (w[0] !== '-A' || w[1] !== chain) continue;
    const target = w[w.indexOf('-j') + 1];
    if (!w.includes('-j') || !['ACCEPT', 'REJECT', 'DROP'].includes(target)) continue;
    const ours = w.some((t, i) => t === '--comment' && w[i + 1] === 'flanctl');
    if (target === 'ACCEPT' && ours) return { verdict: 'accept', rule: line };
    if (surelyMatches(w.slice(2), chain, traffic, target === 'ACCEPT' ? nodeIps : undefined)) return { verdict: target === 'ACCEPT' ? 'accept' : 'drop', rule: line };
  }
  return policy === 'DROP' ? { verdict: 'drop', rule: `-P ${chain} DROP` } : undefined;
}

function surelyMatches(w: string[], chain: string, traffic: BackendTraffic, acceptSources?: string[]): boolean {
  const input = chain === 'INPUT' ? traffic.input : undefined;
  for (let i = 0; i < w.length; i++) {
    const t = w[i];
    const v = w[i + 1];
    if (t === '-j' || t === '--reject-with' || t === '--comment') {
      i++;
      continue;
    }
    if (t === '-m' && (v === 'comment' || (input && v === input.proto))) {
      i++;
      continue;
    }
    if (NEUTRAL.has(t)) continue;
    if (t === '-p' && input && (v === input.proto || (input.proto === '4' && v === 'ipencap'))) {
      i++;
      continue;
    }
    if (t === '--dport' && input?.port !== undefined && v === String(input.port)) {
      i++;
      continue;
    }
    if (t === '-s' && acceptSources && acceptSources.every((ip) => ipInCidr(ip, v.includes('/') ? v : `${v}/32`))) {
      i++;
      continue;
    }
    return false;
  }
  return true;
}

async function firewalldProblems(inv: Inventory, node: NodeSpec, conn: Connector, traffic: BackendTraffic): Promise<string[]> {
  const state = await conn.exec(['firewall-cmd', '--state']);
  if (state.code !== 0 || !traffic.input) return [];
  const zone = (await conn.exec(['firewall-cmd', `--get-zone-of-interface=${node.iface}`])).stdout.trim() || (await conn.exec(['firewall-cmd', '--get-default-zone'])).stdout.trim();
  if (!/^[A-Za-z0-9_-]+$/.test(zone) || traffic.input.port === undefined) return [];
  const port = `${traffic.input.port}/${traffic.input.proto}`;
  const open = await conn.exec(['firewall-cmd', `--zone=${zone}`, `--query-port=${port}`]);
  return open.code === 0
    ? []
    : [`firewalld zone ${zone} (${node.iface}) does not open ${port}: it would drop ${traffic.input.text} from the other nodes; open it with \`firewall-cmd --permanent --zone=${zone} --add-port=${port} && firewall-cmd --reload\` (flanctl does not change firewalld)`];
}

/** Problems for preflight (empty when the traffic passes, or flanctl will insert its ACCEPT rules). */
export async function firewallProblems(inv: Inventory, node: NodeSpec, conn: Connector): Promise<string[]> {
  const traffic = backendTraffic(inv);
  const nodeIps = inv.nodes.filter((n) => n.name !== node.name).map((n) => n.publicIp);
  const problems: string[] = [];
  const chains: Array<['INPUT' | 'FORWARD', string]> = [['FORWARD', traffic.forward.text]];
  if (traffic.input) chains.unshift(['INPUT', traffic.input.text]);
  for (const [chain, what] of chains) {
    const r = await conn.exec(['iptables', '-w', '5', '-t', 'filter', '-S', chain]);
    if (r.code !== 0) continue; // no iptables: reported by the other checks
    const d = decidingRule(r.stdout, chain, traffic, nodeIps);
    if (d?.verdict === 'drop' && !inv.iptables.openBackend) {
      problems.push(`host firewall: \`iptables ${d.rule}\` would drop ${what}${chain === 'INPUT' ? ' from the other nodes' : ''}; set iptables.openBackend: true to let flanctl insert narrow ACCEPT rules ahead of it (or open it yourself)`);
    }
  }
  problems.push(...(await firewalldProblems(inv, node, conn, traffic).catch(() => [])));
  return problems;
}
