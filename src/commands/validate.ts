import { existsSync } from 'node:fs';
import { FlanctlCommand } from '../command.js';
import { networkConfig, networkConfigText } from '../model/flannel-config.js';
import { configKey } from '../model/leases.js';
import { backendMtu, networkWarnings, subnetRange } from '../model/network.js';

export default class Validate extends FlanctlCommand<typeof Validate> {
  static summary = 'Check an inventory and print what it describes.';
  static description = `Loads the inventory with every check flanctl applies before it touches a host: the schema, flannel's CIDR rules (SubnetLen, SubnetMin/Max, the first subnet never used), subnet capacity against the node count, overlaps with node addresses and serviceCidr, duplicates, and values that reach remote commands. Problems are listed with their YAML path and line, and the exit code is 2. On success it prints the node count, the subnet capacity and the network config JSON flanneld will read.`;
  static examples = [
    { description: 'Check ./inventory.yaml', command: '<%= config.bin %> validate' },
    { description: 'Check another file', command: '<%= config.bin %> validate -i clusters/prod.yaml' },
    { description: 'Machine-readable report (capacity, config, warnings)', command: '<%= config.bin %> validate --json' },
  ];

  async run(): Promise<unknown> {
    const inv = await this.inventory();
    const range = subnetRange(inv);
    const config = networkConfig(inv, { redact: true });
    const warnings = networkWarnings(inv);
    if (!existsSync(inv.flannel.tarball)) warnings.push(`flannel.tarball ${inv.flannel.tarball} does not exist yet`);
    const report = {
      file: inv.file,
      valid: true,
      nodes: inv.nodes.map((n) => ({ name: n.name, host: n.host, publicIp: n.publicIp, iface: n.iface })),
      network: { ...range, capacity: range.count, free: range.count - inv.nodes.length, serviceCidr: inv.network.serviceCidr },
      backend: inv.network.backend,
      mtu: backendMtu(inv.network.backend),
      etcd: { endpoints: inv.etcd.endpoints, api: inv.etcd.api, key: configKey(inv.etcd.prefix) },
      config,
      warnings,
    };
    this.say(`${inv.file}: valid`);
    this.say(`  nodes      ${inv.nodes.length} (${inv.nodes.map((n) => n.name).join(', ')})`);
    this.say(`  network    ${range.network}, /${range.subnetLen} subnets ${range.min} .. ${range.max}`);
    this.say(`  capacity   ${range.count} subnet leases, ${range.count - inv.nodes.length} free after ${inv.nodes.length} node(s)`);
    this.say(`  backend    ${inv.network.backend.type} (FLANNEL_MTU ${report.mtu} on a 1500 MTU interface)`);
    this.say(`  etcd       ${inv.etcd.api} at ${inv.etcd.endpoints.join(', ')}`);
    this.say(`  ${report.etcd.key}:`);
    this.say(`    ${networkConfigText(inv, { redact: true })}`);
    for (const w of warnings) this.say(`  warning: ${w}`);
    return report;
  }
}
