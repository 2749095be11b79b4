/**
 * verify's docker0 check (issue 17 item 4), only with docker.integration: when Docker is present on
 * the node (dockerd on PATH or at docker.dockerd), docker0 must hold FLANNEL_SUBNET and its MTU must
 * not exceed FLANNEL_MTU; when Docker is absent the check says so and is skipped.
 */
import type { Connector } from '../connector/connector.js';
import type { Inventory, NodeSpec } from '../model/inventory.js';
import { parseEnvFile } from '../steps/util.js';
import { fail, pass, type Check } from './checks.js';
import { parseLinks, type Link } from './facts.js';

const SCRIPT = `if command -v dockerd >/dev/null 2>&1 || [ -x "$1" ]; then echo present; ip -d -j addr show dev docker0 2>/dev/null; fi`;

export const dockerProbeArgv = (inv: Inventory) => ['sh', '-c', SCRIPT, 'flanctl-docker', inv.docker.dockerd];

export async function checkDocker(conn: Connector, inv: Inventory, node: NodeSpec): Promise<Check | undefined> {
  if (!inv.docker.integration) return undefined;
  const name = 'docker0';
  const r = await conn.exec(dockerProbeArgv(inv));
  const [first, ...rest] = r.stdout.split('\n');
  if (first.trim() !== 'present') return { ...pass(node.name, name, `Docker is not installed (no dockerd on PATH or at ${inv.docker.dockerd}): skipped`), skipped: true };
  const envText = await conn.read(inv.flannel.subnetFile);
  const env = envText ? parseEnvFile(envText.toString('utf8')) : {};
  if (!env.FLANNEL_SUBNET) return fail(node.name, name, `no FLANNEL_SUBNET in ${inv.flannel.subnetFile}`);
  let links: Link[];
  try {
    links = parseLinks(rest.join('\n'));
  } catch {
    links = [];
  }
  const dev = links.find((l) => l.name === 'docker0');
  if (!dev) return fail(node.name, name, `Docker is installed but docker0 does not exist (is docker running with ${inv.flannel.dockerOptsFile}?)`);
  const [ip, len] = env.FLANNEL_SUBNET.split('/');
  const problems: string[] = [];
  if (!dev.addrs.some((a) => a.ip === ip && a.prefixLen === Number(len))) {
    problems.push(`address ${dev.addrs.map((a) => `${a.ip}/${a.prefixLen}`).join(', ') || 'none'}, FLANNEL_SUBNET is ${env.FLANNEL_SUBNET} (restart docker after flanneld)`);
  }
  const mtu = Number(env.FLANNEL_MTU);
  if (Number.isFinite(mtu) && dev.mtu > mtu) problems.push(`MTU ${dev.mtu} above FLANNEL_MTU ${mtu}`);
  return problems.length ? fail(node.name, name, problems.join('; ')) : pass(node.name, name, `${env.FLANNEL_SUBNET}, MTU ${dev.mtu}`);
}
