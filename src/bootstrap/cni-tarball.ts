/**
 * CNI plugin tarballs (issue 17 item 3), read into memory like the flannel tarball: the flannel CNI
 * plugin (upstream's cni-plugin-flannel-linux-<arch>-<version>.tgz holds `flannel-<arch>`; a file
 * named `flannel` is taken too) and, optionally, a containernetworking-plugins tarball for
 * bridge/host-local/portmap (else the node's /usr/lib/cni is used).
 */
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { FlanctlError } from '../errors.js';
import { binaryFromBuffer, type BinaryFile } from '../steps/binary.js';
import type { Inventory } from '../model/inventory.js';
import { REFERENCE_PLUGINS } from '../model/cni.js';
import type { CniMaterial } from '../steps/cni.js';

export type { CniMaterial };

async function readEntries(file: string, key: string, pick: (name: string) => string | undefined): Promise<Map<string, Buffer>> {
  if (!existsSync(file)) throw new FlanctlError(`${file} does not exist (inventory ${key})`);
  const { list } = await import('tar');
  const found = new Map<string, Buffer>();
  const pending: Promise<void>[] = [];
  try {
    await list({
      file,
      onReadEntry: (entry) => {
        const name = entry.type === 'File' ? pick(basename(entry.path)) : undefined;
        if (!name || found.has(name)) return;
        const chunks: Buffer[] = [];
        pending.push(new Promise((resolve, reject) => {
          entry.on('data', (c: Buffer) => chunks.push(c));
          entry.on('end', () => { found.set(name, Buffer.concat(chunks)); resolve(); });
          entry.on('error', reject);
        }));
      },
    });
    await Promise.all(pending);
  } catch (err) {
    throw new FlanctlError(`${file} cannot be read (inventory ${key}): ${(err as Error).message}`, { cause: err });
  }
  return found;
}

export async function readCniMaterial(inv: Inventory): Promise<CniMaterial | undefined> {
  if (!inv.cni.enabled) return undefined;
  const file = inv.cni.pluginsTarball;
  if (!file) throw new FlanctlError('cni.enabled needs cni.pluginsTarball (the flannel CNI plugin tarball, e.g. cni-plugin-flannel-linux-amd64-v1.1.2.tgz)');
  const f = await readEntries(file, 'cni.pluginsTarball', (n) => (n === 'flannel' || /^flannel-(amd64|arm64|arm|ppc64le|s390x|riscv64)$/.test(n) ? 'flannel' : undefined));
  const flannel = f.get('flannel');
  if (!flannel?.length) throw new FlanctlError(`${file} holds no flannel plugin (flannel-<arch>) (inventory cni.pluginsTarball)`);
  let reference: Map<string, BinaryFile> | undefined;
  if (inv.cni.referencePluginsTarball) {
    const wanted = new Set<string>(REFERENCE_PLUGINS);
    const r = await readEntries(inv.cni.referencePluginsTarball, 'cni.referencePluginsTarball', (n) => (wanted.has(n) ? n : undefined));
    const missing = REFERENCE_PLUGINS.filter((p) => !r.get(p)?.length);
    if (missing.length) throw new FlanctlError(`${inv.cni.referencePluginsTarball} lacks ${missing.join(', ')} (inventory cni.referencePluginsTarball)`);
    reference = new Map([...r].map(([k, v]) => [k, binaryFromBuffer(v)]));
  }
  return { flannel: binaryFromBuffer(flannel), reference };
}
