import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Flags } from '@oclif/core';
import { parseDocument, isMap, type Document } from 'yaml';
import { FlanctlCommand } from '../command.js';
import { UsageError } from '../errors.js';
import { parseInventory } from '../model/inventory.js';
import { writePkiGitignore } from '../pki/index.js';

/** The commented starter: inventory.example.yaml at the package root. */
export const EXAMPLE_FILE = new URL('../../inventory.example.yaml', import.meta.url);

function parseNode(spec: string): { name: string; host: string; iface?: string } {
  const m = /^([^=]+)=([^,]+)(?:,(.+))?$/.exec(spec);
  if (!m) throw new UsageError(`--node ${spec}: expected name=host or name=host,iface (e.g. node1=192.168.10.11,eth0)`);
  return { name: m[1], host: m[2], ...(m[3] ? { iface: m[3] } : {}) };
}

export function starterInventory(opts: { cidr?: string; backend?: string; etcd?: string[]; api?: string; tarball?: string; nodes?: string[] }): string {
  const example = readFileSync(EXAMPLE_FILE, 'utf8');
  if (!Object.values(opts).some((v) => (Array.isArray(v) ? v.length : v))) return example; // verbatim, alignment kept
  const doc: Document = parseDocument(example);
  if (opts.cidr) doc.setIn(['network', 'cidr'], opts.cidr);
  if (opts.backend) {
    const backend = doc.createNode({ type: opts.backend });
    doc.setIn(['network', 'backend'], backend);
  }
  if (opts.etcd?.length) doc.setIn(['etcd', 'endpoints'], doc.createNode(opts.etcd));
  if (opts.api) doc.setIn(['etcd', 'api'], opts.api);
  if (opts.tarball) doc.setIn(['flannel', 'tarball'], opts.tarball);
  if (opts.nodes?.length) {
    const seq = doc.createNode(opts.nodes.map(parseNode));
    for (const item of (seq as { items: unknown[] }).items) if (isMap(item)) item.flow = true;
    const old = doc.getIn(['nodes'], true) as { comment?: string; commentBefore?: string } | undefined;
    Object.assign(seq as object, { comment: old?.comment, commentBefore: old?.commentBefore });
    doc.setIn(['nodes'], seq);
  }
  return doc.toString();
}

export default class Init extends FlanctlCommand<typeof Init> {
  static summary = 'Write a commented starter inventory.';
  static description = `Writes the inventory file (-i, default ./inventory.yaml) with every section commented, ready to edit. Flags fill in the usual first values; the result is validated before it is written. An existing file is never overwritten unless --force is given.`;
  static examples = [
    { description: 'Write ./inventory.yaml from the commented example', command: '<%= config.bin %> init' },
    {
      description: 'Start with your nodes, etcd and network',
      command: '<%= config.bin %> init --cidr 10.244.0.0/16 --etcd https://10.0.0.5:2379 --node node1=10.0.0.11 --node node2=10.0.0.12,ens3',
    },
    { description: 'flannel <= 0.17 speaks etcd v2 only', command: '<%= config.bin %> init -i old.yaml --api v2 --tarball flannel-v0.11.0-linux-amd64.tar.gz' },
    { description: 'Replace an existing file', command: '<%= config.bin %> init --force' },
  ];
  static flags = {
    force: Flags.boolean({ char: 'f', summary: 'Overwrite an existing inventory file.' }),
    cidr: Flags.string({ summary: 'network.cidr, the flannel Network (e.g. 10.244.0.0/16).' }),
    backend: Flags.string({ summary: 'network.backend.type.', options: ['vxlan', 'host-gw', 'ipip', 'wireguard', 'udp'] }),
    etcd: Flags.string({ summary: 'An etcd endpoint (repeatable), e.g. https://10.0.0.5:2379.', multiple: true }),
    api: Flags.string({ summary: 'etcd.api: v3 for flannel >= 0.18, v2 for flannel <= 0.17.', options: ['v3', 'v2'] }),
    tarball: Flags.string({ summary: 'flannel.tarball, the flannel release tarball.' }),
    node: Flags.string({ summary: 'A node as name=host[,iface] (repeatable).', multiple: true }),
  };

  async run(): Promise<unknown> {
    const file = resolve(this.flags.inventory);
    const existed = existsSync(file);
    if (existed && !this.flags.force) {
      throw new UsageError(`${file} already exists; not overwriting it`, { hint: 'Pass --force to replace it, or -i to write another file.' });
    }
    const text = starterInventory({
      cidr: this.flags.cidr, backend: this.flags.backend, etcd: this.flags.etcd, api: this.flags.api, tarball: this.flags.tarball, nodes: this.flags.node,
    });
    const { inventory } = await parseInventory(text, file); // InventoryError (exit 2) names the bad flag's path
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, text);
    const gitignore = writePkiGitignore(inventory.pki.dir); // private keys in pki.dir never go into git
    this.say(`${existed ? 'Replaced' : 'Wrote'} ${file} (${inventory.nodes.length} nodes, ${inventory.network.cidr}, ${inventory.network.backend.type})${gitignore ? ` and ${gitignore}` : ''}.\nNext: edit it, then \`flanctl validate\` and \`flanctl certs generate\`.`);
    return { file, overwritten: existed, nodes: inventory.nodes.length, ...(gitignore ? { gitignore } : {}) };
  }
}
