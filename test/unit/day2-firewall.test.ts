import { describe, expect, it } from 'vitest';
import { decidingRule } from '../../src/bootstrap/firewall-check.js';
import { backendTraffic, openBackendRules } from '../../src/model/firewall.js';
import { parseInventory } from '../../src/model/inventory.js';
import { flanctlRules } from '../../src/steps/iptables.js';
import { renderIptablesScript } from '../../src/model/templates.js';

const yaml = (extra = '') => `
network: { cidr: 10.244.0.0/16 }
etcd: { endpoints: [https://10.77.0.1:2379] }
flannel: { tarball: flannel.tar.gz }
${extra}
nodes:
  - { name: node1, host: 10.77.0.11 }
  - { name: node2, host: 10.77.0.12 }
`;
const CENTOS_INPUT = `-P INPUT ACCEPT
-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT
-A INPUT -i lo -j ACCEPT
-A INPUT -p tcp -m state --state NEW -m tcp --dport 22 -j ACCEPT
-A INPUT -j REJECT --reject-with icmp-host-prohibited
`;

describe('host firewall preflight', async () => {
  const { inventory: inv } = await parseInventory(yaml(), '/x/inventory.yaml');
  const t = backendTraffic(inv);
  const ips = ['10.77.0.12'];
  it('finds the CentOS default REJECT rule for vxlan and the FORWARD one', () => {
    expect(decidingRule(CENTOS_INPUT, 'INPUT', t, ips)).toEqual({ verdict: 'drop', rule: '-A INPUT -j REJECT --reject-with icmp-host-prohibited' });
    expect(decidingRule('-P FORWARD ACCEPT\n-A FORWARD -j REJECT --reject-with icmp-host-prohibited\n', 'FORWARD', t, ips)?.verdict).toBe('drop');
    expect(decidingRule('-P FORWARD DROP\n', 'FORWARD', t, ips)).toEqual({ verdict: 'drop', rule: '-P FORWARD DROP' });
  });
  it('an ACCEPT ahead of it (flanctl\'s, the port, a source range with every node) lets the traffic through', () => {
    const withOurs = `-A INPUT -s 10.77.0.12/32 -p udp -m udp --dport 8472 -m comment --comment flanctl -j ACCEPT\n${CENTOS_INPUT}`;
    expect(decidingRule(withOurs, 'INPUT', t, ips)?.verdict).toBe('accept');
    expect(decidingRule(`-A INPUT -p udp -m udp --dport 8472 -j ACCEPT\n${CENTOS_INPUT}`, 'INPUT', t, ips)?.verdict).toBe('accept');
    expect(decidingRule(`-A INPUT -s 10.77.0.0/24 -j ACCEPT\n${CENTOS_INPUT}`, 'INPUT', t, ips)?.verdict).toBe('accept');
    expect(decidingRule(`-A INPUT -s 10.99.0.0/24 -j ACCEPT\n${CENTOS_INPUT}`, 'INPUT', t, ips)?.verdict).toBe('drop');
  });
  it('rules with conditions it cannot judge, or for other ports, are not reported', () => {
    expect(decidingRule('-A INPUT -p udp --dport 53 -j DROP\n-A INPUT -i eth1 -j REJECT\n', 'INPUT', t, ips)).toBeUndefined();
    expect(decidingRule('# Warning: iptables-legacy tables present\n-P INPUT ACCEPT\n', 'INPUT', t, ips)).toBeUndefined();
  });
  it('openBackend: narrow ACCEPT rules inserted first by the script, checked like the other rules', async () => {
    const { inventory: open } = await parseInventory(yaml('iptables: { openBackend: true }'), '/x/inventory.yaml');
    expect(openBackendRules(inv)).toEqual([]);
    const rules = openBackendRules(open).map((r) => `${r.chain} ${r.spec.join(' ')}`);
    expect(rules).toEqual([
      'INPUT -s 10.77.0.11 -p udp --dport 8472 -m comment --comment flanctl -j ACCEPT',
      'INPUT -s 10.77.0.12 -p udp --dport 8472 -m comment --comment flanctl -j ACCEPT',
      'INPUT -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment flanctl -j ACCEPT',
      'FORWARD -s 10.244.0.0/16 -m comment --comment flanctl -j ACCEPT',
      'FORWARD -d 10.244.0.0/16 -m comment --comment flanctl -j ACCEPT',
    ]);
    const script = renderIptablesScript(open);
    expect(script).toContain('ensure_first filter INPUT -s 10.77.0.12 -p udp --dport 8472 -m comment --comment flanctl -j ACCEPT || rc=1');
    expect(script.indexOf('ensure_first filter FORWARD -s 10.244.0.0/16')).toBeLessThan(script.indexOf('ensure filter FORWARD -s "$NETWORK"'));
    // No duplicate of the FORWARD rules forwardAccept already owns.
    expect(flanctlRules(open, '10.244.5.0/24').ensure.filter((r) => r.chain === 'FORWARD')).toHaveLength(2);
    expect(flanctlRules(open, '10.244.5.0/24').ensure.filter((r) => r.chain === 'INPUT')).toHaveLength(3);
  });
});
