/**
 * bootstrap's last node step, `↻ flanneld (stale peer state: node2, node3)`: once every node is done,
 * one cluster-wide look at every node's peer state (peer-repair.ts) decides each node's step; the
 * first node step that applies runs the one repair for all stale nodes together, the others await it.
 */
import { FlanctlError } from '../errors.js';
import type { Inventory } from '../model/inventory.js';
import type { Step } from '../engine/step.js';
import { describeMismatch, stalePeers } from '../verify/peer-state.js';
import { observeSettled, repairPeerState, type PeerRepairDeps, type PeerRepairReport, type PeerSnapshot } from './peer-repair.js';

export const PEER_STEP_ID = 'flanneld:peers';

export interface PeerRepairCoordinator {
  snapshot(): Promise<PeerSnapshot>;
  repair(): Promise<PeerRepairReport>;
  /** The repair's report once it ran (undefined when nothing needed one). */
  report(): Promise<PeerRepairReport | undefined>;
}

export function peerRepairCoordinator(inv: Inventory, deps: PeerRepairDeps): PeerRepairCoordinator {
  let snap: Promise<PeerSnapshot> | undefined;
  let repaired: Promise<PeerRepairReport> | undefined;
  const snapshot = () => (snap ??= observeSettled(inv, deps, deps.settleMs));
  return {
    snapshot,
    repair: () => (repaired ??= snapshot().then((s) => repairPeerState(inv, deps, s))),
    report: async () => repaired,
  };
}

export function peerStateStep(coord: PeerRepairCoordinator): Step {
  return {
    id: PEER_STEP_ID,
    title: 'flanneld',
    async check(ctx) {
      const node = ctx.node;
      if (!node) throw new Error(`${PEER_STEP_ID}: needs a node`);
      const ms = (await coord.snapshot()).stale.get(node.name);
      if (!ms?.length) return undefined;
      return {
        action: 'restart',
        summary: `(stale peer state: ${stalePeers(ms).join(', ')})`,
        diff: {
          before: ms.map((m) => `${m.peer} ${m.item}: ${m.kernel}`).join('\n'),
          after: ms.map((m) => `${m.peer} ${m.item}: ${m.lease}`).join('\n'),
        },
        apply: async () => {
          const r = await coord.repair();
          const left = r.remaining[node.name];
          if (left?.length || !r.restarted.includes(node.name)) {
            const still = left?.length ? `still stale for ${left.join(', ')}` : `found: ${ms.map(describeMismatch).join('; ')}`;
            throw new FlanctlError(`${node.name}: stale peer state not repaired (${r.problem ?? 'flanneld not restarted'}); ${still}`);
          }
        },
      };
    },
  };
}
