/**
 * Node names for shell completion: the `nodes[].name` of an inventory file, read leniently (no schema
 * validation, no error: a half-written inventory still completes what it has). Used by the hidden
 * `flanctl node-names` command that the completion scripts call (completion.ts).
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

export function nodeNamesOf(file: string): string[] {
  let doc: unknown;
  try {
    doc = parse(readFileSync(file, 'utf8'));
  } catch {
    return [];
  }
  const nodes = (doc as { nodes?: unknown } | null)?.nodes;
  if (!Array.isArray(nodes)) return [];
  const names = nodes.map((n) => (n && typeof n === 'object' ? (n as { name?: unknown }).name : undefined));
  return [...new Set(names.filter((n): n is string => typeof n === 'string' && /^[A-Za-z0-9._-]+$/.test(n)))];
}
