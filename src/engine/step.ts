/**
 * The central abstraction (DESIGN.md §3): a Step observes real state and yields a Change
 * that knows how to converge it, or nothing when the target is already right.
 */
import type { Connector } from '../connector/connector.js';
import type { Inventory, NodeSpec } from '../model/inventory.js';
import type { Kv } from '../kv/kv.js';

export type ChangeAction = 'create' | 'update' | 'delete' | 'restart';

export interface Change {
  action: ChangeAction;
  /** One line a human reads in `plan` and in the report. */
  summary: string;
  /** A short before/after; never set for secrets (keys). */
  diff?: { before: string; after: string };
  apply(): Promise<void>;
}

export interface StepContext {
  inventory: Inventory;
  /** The node this step runs on; undefined for cluster-wide steps (etcd config). */
  node?: NodeSpec;
  conn?: Connector;
  kv?: Kv;
  /** Ids of steps whose change was applied earlier in this run on this target. */
  touched: Set<string>;
  /** Progress text for long steps (uploads, waits). */
  progress?: (text: string) => void;
}

export interface Step {
  id: string;
  title: string;
  /** Observe with no side effects; undefined when already converged. */
  check(ctx: StepContext): Promise<Change | undefined>;
}
