/**
 * Day-2 lab operations on one node (issue 16): a simulated reboot, a power-off (dead hardware) and a
 * CentOS-style host firewall.
 *  - reboot: kill every process of the node (its init's pid namespace), delete its network namespace
 *    (links, addresses, routes, neighbours, iptables all go with it), recreate eth0 with the same
 *    address and start its init again: /run and /tmp are fresh tmpfs, /etc /usr /var /opt /var/log
 *    keep what was written (like disks). supervisord (or, on systemd nodes, systemd) then starts what is
 *    enabled.
 *  - power-off: the same without starting again; `lab up` brings it back.
 *  - firewall: appends `-A INPUT -j REJECT --reject-with icmp-host-prohibited` and the same on FORWARD
 *    (the CentOS 7 default the hdss7 course deletes by hand), after an INPUT ACCEPT for established
 *    traffic, loopback and SSH so the node stays reachable; --remove deletes exactly those rules.
 */
import { FlanctlError, UsageError } from '../errors.js';
import { labNames } from './names.js';
import { deleteNodeNetwork, nsenterPrefix } from './node.js';
import { currentInit, nodeUp, startNode, stopNode, waitReady } from './node-kind.js';
import { sh } from './proc.js';
import { nodeInitKind, readState, saveState, type LabState, type NodeState } from './state.js';
import { labDir } from './lab.js';

function labNode(dir: string, name: string): { state: LabState; node: NodeState } {
  const state = readState(labDir(dir));
  if (!state || state.index === undefined) throw new UsageError(`no lab in ${labDir(dir)} (run \`flanctl lab up\`)`);
  const node = state.nodes.find((n) => n.name === name);
  if (!node) throw new UsageError(`no node ${name} in the lab (nodes: ${state.nodes.map((n) => n.name).join(', ')})`);
  return { state, node };
}

export async function labPowerOff(dir: string, name: string): Promise<void> {
  const { state, node } = labNode(dir, name);
  await stopNode(node);
  await deleteNodeNetwork(node);
  node.init = undefined;
  node.unshare = undefined;
  node.launcher = undefined;
  saveState(state);
}

/** Power off, then boot the node again; resolves once its sshd and supervisord answer. */
export async function labReboot(dir: string, name: string): Promise<{ pid: number }> {
  await labPowerOff(dir, name);
  const { state, node } = labNode(dir, name);
  // Same kind of node as before (supervisord or systemd); startNode makes a fresh netns and eth0.
  await startNode(state.dir, labNames(state.index!), node, nodeInitKind(node), state.rootfs);
  saveState(state);
  await waitReady(state.dir, node);
  saveState(state);
  return { pid: node.init!.pid };
}

export const FIREWALL_RULES: string[][] = [
  ['INPUT', '-m', 'state', '--state', 'RELATED,ESTABLISHED', '-j', 'ACCEPT'],
  ['INPUT', '-i', 'lo', '-j', 'ACCEPT'],
  ['INPUT', '-p', 'tcp', '-m', 'state', '--state', 'NEW', '-m', 'tcp', '--dport', '22', '-j', 'ACCEPT'],
  ['INPUT', '-j', 'REJECT', '--reject-with', 'icmp-host-prohibited'],
  ['FORWARD', '-j', 'REJECT', '--reject-with', 'icmp-host-prohibited'],
];

/** Install (or with remove, delete) the CentOS default REJECT rules on a running node. */
export async function labFirewall(dir: string, name: string, opts: { remove?: boolean } = {}): Promise<string[]> {
  const { node } = labNode(dir, name);
  const init = nodeUp(node) ? currentInit(node) : undefined;
  if (!init) throw new FlanctlError(`${name} is not running`);
  const enter = nsenterPrefix(init.pid);
  const done: string[] = [];
  for (const [chain, ...spec] of opts.remove ? [...FIREWALL_RULES].reverse() : FIREWALL_RULES) {
    const has = (await sh([...enter, 'iptables', '-w', '5', '-C', chain, ...spec])).code === 0;
    if (has === !opts.remove) continue;
    const r = await sh([...enter, 'iptables', '-w', '5', opts.remove ? '-D' : '-A', chain, ...spec]);
    if (r.code !== 0) throw new FlanctlError(`${name}: iptables ${opts.remove ? '-D' : '-A'} ${chain} ${spec.join(' ')}: ${r.stderr.trim()}`);
    done.push(`${opts.remove ? '-D' : '-A'} ${chain} ${spec.join(' ')}`);
  }
  return done;
}
