/**
 * `--limit` (issue 16 item 1): which inventory nodes an operation changes. One place for every command:
 * a comma-separated list of node names or globs (`*`, `?`, `[…]`), matched against nodes[].name.
 * A name or glob that matches no node is a usage error (exit 2) naming the flag. No limit = every node.
 * Pure.
 */
import { UsageError } from '../errors.js';
import type { Inventory, NodeSpec } from './inventory.js';

function globRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        re += `[${glob.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** The patterns of a --limit value ("node3,node4", "node[45]", "web-*"). */
export function parseLimit(limit: string | string[] | undefined): string[] {
  const raw = Array.isArray(limit) ? limit : limit === undefined ? [] : [limit];
  return raw.flatMap((l) => l.split(',')).map((s) => s.trim()).filter(Boolean);
}

/** The selected nodes, in inventory order; all nodes without a limit. Throws UsageError (exit 2) for an unknown name. */
export function selectNodes(inv: Inventory, limit: string | string[] | undefined, flag = '--limit'): NodeSpec[] {
  const patterns = parseLimit(limit);
  if (!patterns.length) return inv.nodes;
  const chosen = new Set<string>();
  const unknown: string[] = [];
  for (const p of patterns) {
    const re = globRegExp(p);
    const hits = inv.nodes.filter((n) => re.test(n.name));
    if (!hits.length) unknown.push(p);
    for (const h of hits) chosen.add(h.name);
  }
  if (unknown.length) {
    throw new UsageError(`${flag} ${patterns.join(',')}: ${unknown.map((u) => `"${u}"`).join(', ')} matches no node in the inventory (nodes: ${inv.nodes.map((n) => n.name).join(', ')})`);
  }
  return inv.nodes.filter((n) => chosen.has(n.name));
}

/** The names of selectNodes(), or undefined when every node is selected. */
export function limitedNames(inv: Inventory, limit: string | string[] | undefined, flag = '--limit'): Set<string> | undefined {
  const nodes = selectNodes(inv, limit, flag);
  return nodes.length === inv.nodes.length ? undefined : new Set(nodes.map((n) => n.name));
}

/** The inventory seen by an operation that changes only `only` (others stay as peers to read). */
export function withNodes(inv: Inventory, only: Set<string> | undefined): Inventory {
  return only ? { ...inv, nodes: inv.nodes.filter((n) => only.has(n.name)) } : inv;
}
