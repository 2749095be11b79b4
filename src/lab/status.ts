/** `flanctl lab status`: what the lab recorded, checked against the machine (processes, sshd, supervisord, etcd). */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { bridgeExists } from './bridge.js';
import { etcdDir, etcdHealthy, pkiDir, type LabTls } from './etcd.js';
import { sshdAnswers, supervisordAnswers } from './node.js';
import { currentInit, nodeUp } from './node-kind.js';
import { systemState } from './nspawn.js';
import { readState, nodeInitKind, type LabInit } from './state.js';
import { isAlive } from './proc.js';
import { realPath } from './labdir.js';
import { resolve } from 'node:path';

export interface NodeStatus {
  name: string;
  ip: string;
  netns: string;
  pid?: number;
  running: boolean;
  sshd: boolean;
  /** The node's init: supervisord or systemd. */
  init: LabInit;
  /** supervisord nodes: supervisord answers. */
  supervisord: boolean;
  /** systemd nodes: `systemctl is-system-running` (running, degraded, starting, down…). */
  system?: string;
}

export interface LabStatus {
  dir: string;
  exists: boolean;
  index?: number;
  bridge?: { name: string; address: string; present: boolean };
  etcd?: { endpoint: string; pid?: number; running: boolean; healthy: boolean };
  inventory?: string;
  nodes: NodeStatus[];
  /** Everything recorded is running and answering. */
  healthy: boolean;
}

export async function labStatus(dir: string): Promise<LabStatus> {
  const abs = realPath(dir);
  const state = readState(abs);
  if (!state) return { dir: abs, exists: false, nodes: [], healthy: false };
  const tlsDir = join(etcdDir(abs), 'tls');
  const tls = {
    caFile: join(pkiDir(abs), 'ca.pem'), clientCert: join(tlsDir, 'client.pem'), clientKey: join(tlsDir, 'client-key.pem'),
  } as LabTls;
  const etcdRunning = isAlive(state.etcd?.pid);
  const etcd = state.etcd && {
    endpoint: state.etcd.endpoint,
    pid: etcdRunning ? state.etcd.pid?.pid : undefined,
    running: etcdRunning,
    healthy: etcdRunning && existsSync(tls.clientCert) && (await etcdHealthy(state.etcd.endpoint, tls)),
  };
  const nodes = await Promise.all(state.nodes.map(async (n): Promise<NodeStatus> => {
    const running = nodeUp(n);
    const init = nodeInitKind(n);
    return {
      name: n.name, ip: n.ip, netns: n.netns, pid: running ? currentInit(n)?.pid : undefined, running, init,
      sshd: running && (await sshdAnswers(n.ip)),
      supervisord: init === 'supervisord' && running && (await supervisordAnswers(n.init)),
      ...(init === 'systemd' ? { system: running ? await systemState(n) : 'down' } : {}),
    };
  }));
  const bridge = state.bridge ? { name: state.bridge, address: `${state.hostIp}/24`, present: bridgeExists(state.bridge) } : undefined;
  const healthy = !!bridge?.present && !!etcd?.healthy && nodes.length > 0 && nodes.every((n) => n.running && n.sshd && (n.init === 'systemd' ? n.system === 'running' : n.supervisord));
  return { dir: abs, exists: true, index: state.index, bridge, etcd, inventory: state.inventory, nodes, healthy };
}
