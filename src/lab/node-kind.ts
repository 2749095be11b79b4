/**
 * The two kinds of lab node behind one interface: supervisord (node.ts: unshare + lab/node-init.sh)
 * and systemd (nspawn.ts: systemd-nspawn booting the shared rootfs). Both sit in the same network
 * namespace layout (netns + eth0 on the lab bridge), so everything above the lab sees the same node.
 */
import { rmSync } from 'node:fs';
import type { LabNames } from './names.js';
import {
  createNodeNetwork, nodeDir, nodeRunning, netnsExists, prepareNodeDir, restartNodeServices, spawnNodeInit, stopNodeProcesses,
  waitNodeReady,
} from './node.js';
import { prepareSystemdNodeDir, spawnSystemdNode, stopSystemdNode, systemdProcs, waitSystemdNodeReady } from './nspawn.js';
import { isAlive, type ProcId } from './proc.js';
import { nodeInitKind, type LabInit, type NodeState } from './state.js';

/** PID 1 of the node as seen from the host (for systemd nodes it changes with every reboot). */
export function currentInit(node: NodeState): ProcId | undefined {
  return node.system === 'systemd' ? systemdProcs(node).init : node.init;
}

/** The node's processes run (a systemd node that is rebooting counts as up: its launcher boots it again). */
export function nodeUp(node: NodeState): boolean {
  return node.system === 'systemd' ? isAlive(node.launcher) && netnsExists(node.netns) : nodeRunning(node);
}

export async function stopNode(node: NodeState): Promise<void> {
  if (node.system === 'systemd') await stopSystemdNode(node);
  else await stopNodeProcesses(node);
}

/** (Re)start a node of the wanted kind in a fresh network namespace. A node that changes kind starts with an empty node dir. */
export async function startNode(dir: string, names: LabNames, node: NodeState, kind: LabInit, rootfs?: string): Promise<void> {
  await stopNode(node);
  if (nodeInitKind(node) !== kind) rmSync(nodeDir(dir, node.name), { recursive: true, force: true });
  await createNodeNetwork(names, node);
  if (kind === 'systemd') {
    if (!rootfs) throw new Error('startNode: a systemd node needs a rootfs');
    prepareSystemdNodeDir(dir, node.name);
    node.system = 'systemd';
    node.unshare = undefined;
    node.init = undefined;
    node.launcher = spawnSystemdNode(dir, rootfs, node);
  } else {
    prepareNodeDir(dir, node.name);
    delete node.system;
    delete node.launcher;
    const p = await spawnNodeInit(dir, node);
    node.unshare = p.unshare;
    node.init = p.init;
  }
}

/** Wait until the node answers (sshd, and supervisord or a booted systemd); refreshes node.init. */
export async function waitReady(dir: string, node: NodeState): Promise<void> {
  if (node.system === 'systemd') {
    await waitSystemdNodeReady(dir, node);
    node.init = systemdProcs(node).init;
  } else {
    await waitNodeReady(dir, node);
  }
}

/** A running node's services that had stopped, started again (supervisord nodes; systemd restarts its own). */
export async function reviveServices(node: NodeState): Promise<string[]> {
  return node.system === 'systemd' ? [] : restartNodeServices(node);
}
