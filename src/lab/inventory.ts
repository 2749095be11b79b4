/**
 * DIR/inventory.yaml: a complete flanctl inventory for the lab (rewritten by every `lab up`), and
 * DIR/ssh/known_hosts with each node's real sshd host key.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { LabNames } from './names.js';
import { clientKey, hostPublicKey, packageRoot } from './node.js';
import type { NodeState } from './state.js';
import { pkiDir } from './etcd.js';
import { etcdApiOf, standinTarball, tarballVersion } from './standin.js';

/** The default stand-in tarball (v0.20.2). */
export const STANDIN_TARBALL = standinTarball('v0.20.2', 'light');
export const inventoryFile = (dir: string) => join(dir, 'inventory.yaml');
export const knownHostsFile = (dir: string) => join(dir, 'ssh', 'known_hosts');

function writeAtomic(file: string, text: string, mode = 0o644): void {
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`; // random and exclusive: never a planted symlink
  writeFileSync(tmp, text, { mode, flag: 'wx' });
  renameSync(tmp, file);
}

export function writeKnownHosts(dir: string, nodes: NodeState[]): string {
  const file = knownHostsFile(dir);
  writeAtomic(file, nodes.map((n) => `${n.ip} ${hostPublicKey(dir, n.name)}\n`).join(''));
  return file;
}

export function labInventory(dir: string, names: LabNames, nodes: NodeState[], tarball: string, service: 'supervisord' | 'systemd' = 'supervisord'): Record<string, unknown> {
  return {
    network: { cidr: '10.244.0.0/16', backend: { type: 'vxlan' } },
    // The API the flanneld version speaks: v2 for <= 0.17 (e.g. v0.11.0), else v3.
    etcd: { endpoints: [names.etcdClientUrl], prefix: '/coreos.com/network', api: etcdApiOf(tarballVersion(tarball)) },
    pki: { dir: pkiDir(dir) },
    flannel: { tarball, service },
    ssh: { user: 'root', identityFile: clientKey(dir), knownHostsFile: knownHostsFile(dir) },
    nodes: nodes.map((n) => ({ name: n.name, host: n.ip, iface: 'eth0', publicIp: n.ip })),
  };
}

export function writeLabInventory(dir: string, names: LabNames, nodes: NodeState[], tarball: string, service: 'supervisord' | 'systemd' = 'supervisord'): string {
  const file = inventoryFile(dir);
  const header = [
    `# flanctl lab ${names.bridge} (${names.subnet}): written by \`flanctl lab up\`, rewritten on every run.`,
    `# The nodes are network namespaces on this machine (${service === 'systemd' ? 'each booting a real systemd with systemd-nspawn' : 'each running sshd and supervisord'}); etcd runs on the bridge address with TLS.`,
    `# pki.dir holds the lab CA: \`flanctl certs generate -i ${file}\` issues a flanneld cert the lab etcd accepts.`,
    '',
  ].join('\n');
  writeAtomic(file, header + stringify(labInventory(dir, names, nodes, tarball, service)));
  return file;
}
