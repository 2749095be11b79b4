/**
 * CNI install steps (issue 17 item 3): the flannel conflist into cni.confDir, the flannel plugin
 * into cni.binDir (sha256-skipped like flanneld), and bridge/host-local/portmap from the reference
 * tarball, else copied on the node from /usr/lib/cni (Debian's containernetworking-plugins) when
 * they differ.
 */
import { posix } from 'node:path';
import type { Step } from '../engine/step.js';
import { run } from '../connector/connector.js';
import { FlanctlError } from '../errors.js';
import type { Inventory } from '../model/inventory.js';
import { REFERENCE_PLUGINS, SYSTEM_CNI_DIR, conflistPath, renderConflist } from '../model/cni.js';
import { binaryStep, type BinaryFile } from './binary.js';
import { fileStep } from './file.js';
import { onNode } from './util.js';

/** The CNI plugin binaries bootstrap read from the inventory's tarballs (src/bootstrap/cni-tarball.ts). */
export interface CniMaterial {
  flannel: BinaryFile;
  /** bridge, host-local, portmap from cni.referencePluginsTarball; undefined: the node's /usr/lib/cni. */
  reference?: Map<string, BinaryFile>;
}

function copyFromSystemStep(inv: Inventory, name: string): Step {
  const id = `binary:cni-${name}`;
  const src = posix.join(SYSTEM_CNI_DIR, name);
  const dst = posix.join(inv.cni.binDir, name);
  const compare = ['sh', '-c', '[ -x "$1" ] || exit 3; cmp -s "$1" "$2"', 'flanctl-cni', src, dst];
  return {
    id,
    title: `CNI ${name} plugin`,
    reads: () => [compare],
    async check(ctx) {
      const { conn } = onNode(ctx, id);
      const r = await conn.exec(compare);
      if (r.code === 0) return undefined;
      if (r.code === 3) {
        throw new FlanctlError(`${conn.name}: ${src} not found: install containernetworking-plugins on the node or set cni.referencePluginsTarball`);
      }
      return {
        action: 'update',
        summary: `copy ${src} to ${dst}`,
        apply: async () => {
          await run(conn, ['mkdir', '-p', inv.cni.binDir]);
          await run(conn, ['install', '-m', '0755', src, dst]);
        },
      };
    },
  };
}

export function cniSteps(inv: Inventory, material: CniMaterial | undefined): Step[] {
  if (!inv.cni.enabled || !material) return [];
  const plugins = REFERENCE_PLUGINS.map((name) => {
    const b = material.reference?.get(name);
    return b ? binaryStep(`binary:cni-${name}`, `CNI ${name}`, posix.join(inv.cni.binDir, name), b) : copyFromSystemStep(inv, name);
  });
  return [
    binaryStep('binary:cni-flannel', 'CNI flannel', posix.join(inv.cni.binDir, 'flannel'), material.flannel),
    ...plugins,
    fileStep({ id: 'file:cni-conflist', title: 'CNI conflist', path: conflistPath(inv), content: renderConflist(inv), mode: 0o644 }),
  ];
}
