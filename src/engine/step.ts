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
  /**
   * What the apply changes, when that is all it changes: remote paths (a file written, chmodded or a
   * directory created; its parent directories may be created too) or sysctl keys. The engine then
   * drops only the held facts that name one of them (connector/facts.ts), so later checks still come
   * from the target's one batch. Without it every held fact is dropped after the apply.
   */
  affects?: string[];
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

/** What a step may use to name its reads: no connection (they are fetched for it, in one batch). */
export type ReadContext = Pick<StepContext, 'inventory' | 'node' | 'kv'>;

export interface Step {
  id: string;
  title: string;
  /** Observe with no side effects; undefined when already converged. */
  check(ctx: StepContext): Promise<Change | undefined>;
  /**
   * The read-only commands (argv; Connector.read(path) is readArgv(path)) check() will run on a
   * fresh target. The engine fetches every step's reads in one round trip when the target opens
   * (connector/facts.ts) and serves check()'s exact matches from it, each at most once; after any
   * applied change everything goes to the wire again. Optional: a step without reads just pays its
   * own round trips, and a read declared but not run costs nothing but its share of the batch.
   */
  reads?(ctx: ReadContext): string[][] | Promise<string[][]>;
}

/** Every read the steps declare (in step order; duplicates kept: each one may be served once). */
export async function stepReads(steps: readonly Step[], ctx: ReadContext): Promise<string[][]> {
  const all = await Promise.all(steps.map(async (s) => (s.reads ? await s.reads(ctx) : [])));
  return all.flat();
}
