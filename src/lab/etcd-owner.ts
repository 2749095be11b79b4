/**
 * The lab's etcd as the owner of its own TLS files for `certs rotate --ca`: flanctl generated them
 * (etcd.ts: --trusted-ca-file is DIR/pki/ca.pem, the server certificate is issued from that CA), so
 * when an inventory's pki.dir is a running lab's DIR/pki, flanctl makes etcd follow the CA rotation
 * itself: a restart to read ca.pem again (etcd 3.4 reads --trusted-ca-file only at start), and its
 * server and client certificates issued again from the current signing CA. Any other inventory: none.
 */
import { existsSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { Inventory } from '../model/inventory.js';
import { ensureLabTls, spawnEtcd, stopEtcd, waitEtcdHealthy } from './etcd.js';
import { labNames } from './names.js';
import { isAlive } from './proc.js';
import { readState, saveState, stateFile } from './state.js';

export interface LabEtcdOwner {
  name: string;
  reloadTrust(): Promise<void>;
  reissueServerCert(): Promise<void>;
}

const trimSlash = (u: string) => u.replace(/\/$/, '');

/** The lab whose etcd the inventory talks to and whose pki dir it uses, or undefined. */
export function labEtcdOwner(inv: Inventory): LabEtcdOwner | undefined {
  const pki = resolve(inv.pki.dir);
  if (basename(pki) !== 'pki') return undefined;
  const dir = dirname(pki);
  if (!existsSync(stateFile(dir))) return undefined;
  let state;
  try {
    state = readState(dir);
  } catch {
    return undefined;
  }
  const etcd = state?.etcd;
  if (!state || state.index === undefined || !etcd || !isAlive(etcd.pid)) return undefined;
  if (!inv.etcd.endpoints.map(trimSlash).includes(trimSlash(etcd.endpoint))) return undefined;
  const names = labNames(state.index);
  if (trimSlash(names.etcdClientUrl) !== trimSlash(etcd.endpoint)) return undefined;
  const lab = state;
  return {
    name: `the lab's etcd (${etcd.endpoint})`,
    async reloadTrust() {
      const tls = await ensureLabTls(dir, names);
      await stopEtcd(lab.etcd!.pid);
      lab.etcd!.pid = spawnEtcd(dir, names, tls);
      saveState(lab);
      await waitEtcdHealthy(dir, names.etcdClientUrl, tls, lab.etcd!.pid);
    },
    async reissueServerCert() {
      // Issued again because ca.pem's signing CA changed; etcd 3.4 loads the server certificate per connection.
      await ensureLabTls(dir, names);
    },
  };
}
