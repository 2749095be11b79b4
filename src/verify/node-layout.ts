/**
 * What bootstrap put on a node that verify must know about: flanctl's iptables rules (the same
 * ones templates/flanctl-iptables.sh.hbs ensures), where the flanneld certificate lives, and where
 * /healthz listens. Paths and ownership rules come from src/templates.ts.
 */
import type { Inventory, NodeSpec } from '../model/inventory.js';
import { etcdUsesTls, remotePaths } from '../model/templates.js';
import { flanctlRules, type IptablesRule } from '../steps/iptables.js';

/**
 * flanctl's iptables rules for a node whose lease is `subnet` (FLANNEL.md §5): the ones bootstrap
 * ensures, and the foreign ones it removes (Docker's broad MASQUERADE). Built by src/steps/iptables.ts.
 */
export function flanctlIptablesRules(inv: Inventory, subnet: string): { ensure: IptablesRule[]; absent: IptablesRule[] } {
  return flanctlRules(inv, subnet);
}

/** The flanneld client certificate as installed on the node; undefined when etcd is plain http. */
export function flanneldCertPath(inv: Inventory): string | undefined {
  return etcdUsesTls(inv) ? remotePaths(inv).cert : undefined;
}

/** flanneld's -healthz-ip defaults to 0.0.0.0 and flanctl does not set it: check from the node itself. */
export function healthzHost(_inv: Inventory, _node: NodeSpec): string {
  return '127.0.0.1';
}
