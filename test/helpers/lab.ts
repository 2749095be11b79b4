/**
 * startLab for system tests: a lab of namespace nodes in its own temp dir with its own lab index, so
 * several test files (and other labs) can run on the machine at once. Always call down() in afterAll.
 *
 *   const lab = await startLab({ nodes: 3 });
 *   afterAll(() => lab?.down());
 *   await lab.exec('node1', ['ip', '-br', 'addr']);   // nsenter, no SSH
 *   const inv = await loadInventory(lab.inventoryPath);
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listLeases } from '../../src/kv/flannel-keys.js';
import { openKv } from '../../src/kv/index.js';
import { labDown, labExec, labNodePrefix, labUp } from '../../src/lab/lab.js';
import type { Inventory } from '../../src/model/inventory.js';
import type { Lease } from '../../src/model/leases.js';

export interface TestLabNode {
  name: string;
  ip: string;
}

export interface TestLab {
  dir: string;
  inventoryPath: string;
  nodes: TestLabNode[];
  /** Lab index k: bridge flanlab<k>, addresses 10.77.<k>.0/24. */
  index: number;
  /** https://10.77.<k>.1:2379 (TLS with client-cert auth; CA in <dir>/pki). */
  etcdEndpoint: string;
  /** A client cert/key the lab etcd accepts, and its CA. */
  etcdTls: { ca: string; cert: string; key: string };
  /** Run argv inside a node without SSH; resolves for any exit code. */
  exec(node: string, argv: string[], opts?: { input?: string }): Promise<{ code: number; stdout: string; stderr: string }>;
  /** argv prefix entering a node (nsenter …), e.g. for localConnector({ name, prefix }). */
  prefix(node: string): string[];
  /** Stop and delete everything of this lab, including its dir. Safe to call twice. */
  down(): Promise<void>;
}

/** The systemd nodes' rootfs shared by every test lab on the machine (built once, ~250 MB; kept). */
export const TEST_ROOTFS = process.env.FLANCTL_LAB_ROOTFS ?? '/var/tmp/flanctl-lab-rootfs';

export async function startLab(opts: { nodes: number; tarball?: string; init?: 'systemd' | 'supervisord' }): Promise<TestLab> {
  const dir = mkdtempSync(join(tmpdir(), 'flanctl-lab-'));
  let state;
  try {
    state = await labUp({ dir, nodes: opts.nodes, flannelTarball: opts.tarball, init: opts.init, rootfs: opts.init === 'systemd' ? TEST_ROOTFS : undefined });
  } catch (err) {
    await labDown({ dir, purge: true }).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  let downed = false;
  return {
    dir,
    inventoryPath: join(dir, 'inventory.yaml'),
    nodes: state.nodes.map((n) => ({ name: n.name, ip: n.ip })),
    index: state.index as number,
    etcdEndpoint: state.etcd?.endpoint as string,
    etcdTls: { ca: join(dir, 'pki', 'ca.pem'), cert: join(dir, 'etcd', 'tls', 'client.pem'), key: join(dir, 'etcd', 'tls', 'client-key.pem') },
    exec: (node, argv, o) => labExec(dir, node, argv, { input: o?.input }),
    prefix: (node) => labNodePrefix(dir, node),
    async down() {
      if (downed) return;
      downed = true;
      await labDown({ dir, purge: true });
      // purge deletes only the lab's own entries: the files a test wrote into its temp dir go here.
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The subnet leases in the inventory's etcd right now (one connection, closed after). */
export async function leasesOf(inv: Inventory): Promise<Lease[]> {
  const kv = await openKv(inv);
  try {
    return await listLeases(kv, inv.etcd.prefix, { ttl: true });
  } finally {
    await kv.close();
  }
}
