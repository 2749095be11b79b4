/**
 * The lab bridge flanlab<k>: the nodes' "physical" L2 network. Creating the bridge is the atomic claim of
 * index k (the kernel refuses a second link with the same name), so concurrent `lab up`s never share one.
 */
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { FlanctlError } from '../errors.js';
import { MAX_INDEX, labNames, type LabNames } from './names.js';
import { sh, shOk } from './proc.js';

export const bridgeExists = (bridge: string) => existsSync(`/sys/class/net/${bridge}`);

/** Namespaces of lab k left over by a crashed run whose bridge is gone: such a k is not reused. */
function strayNamespaces(k: number): boolean {
  try {
    return readdirSync('/run/netns').some((n) => n.startsWith(`flanlab-${k}-`));
  } catch {
    return false;
  }
}

/** Claim a free lab index: try `ip link add flanlab<k> type bridge` from `preferred` on. */
export async function claimBridge(preferred?: number): Promise<LabNames> {
  const order = [...(preferred ? [preferred] : []), ...Array.from({ length: MAX_INDEX }, (_, i) => i + 1).filter((k) => k !== preferred)];
  for (const k of order) {
    const names = labNames(k);
    if (bridgeExists(names.bridge) || strayNamespaces(k)) continue;
    const r = await sh(['ip', 'link', 'add', names.bridge, 'type', 'bridge']);
    if (r.code === 0) return names;
    if (!/exists/i.test(r.stderr)) throw new FlanctlError(`cannot create the lab bridge ${names.bridge}: ${r.stderr.trim()}`);
  }
  throw new FlanctlError(`no free lab index: flanlab1..flanlab${MAX_INDEX} are all in use`, { hint: 'Remove old labs with `flanctl lab down --dir DIR`.' });
}

/** Address, up, and no bridge-netfilter (node-to-node traffic must not run through the host's iptables). */
export async function configureBridge(names: LabNames): Promise<void> {
  const addrs = await shOk(['ip', '-o', '-4', 'addr', 'show', 'dev', names.bridge]);
  if (!addrs.includes(` ${names.hostIp}/${names.prefixLen} `)) {
    await shOk(['ip', 'addr', 'add', `${names.hostIp}/${names.prefixLen}`, 'dev', names.bridge]);
  }
  for (const f of ['nf_call_iptables', 'nf_call_ip6tables', 'nf_call_arptables']) {
    const file = `/sys/class/net/${names.bridge}/bridge/${f}`;
    if (existsSync(file)) writeFileSync(file, '0');
  }
  await shOk(['ip', 'link', 'set', names.bridge, 'up']);
}

export async function deleteBridge(bridge: string): Promise<void> {
  if (bridgeExists(bridge)) await shOk(['ip', 'link', 'del', bridge]);
}
