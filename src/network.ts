/**
 * CIDR math and flannel's network rules (FLANNEL.md §2). Placeholder: filled in by the foundation work.
 */
import type { InventoryProblem } from './errors.js';
import type { Inventory } from './inventory.js';

export function checkNetworkRules(_inv: Inventory): InventoryProblem[] {
  return [];
}
