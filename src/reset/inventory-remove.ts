/**
 * Removes one node from the inventory file (issue 16 item 3) with the yaml Document API: every other
 * line, comments included, stays; the result is validated before an atomic write (temp file + rename,
 * same mode).
 */
import { readFileSync } from 'node:fs';
import { isMap, isSeq, parseDocument } from 'yaml';
import { FlanctlError } from '../errors.js';
import { parseInventory } from '../model/inventory.js';
import { styleOf } from '../switch/inventory-edit.js';
import { replaceInventoryFile } from '../model/inventory-write.js';

/** The file text without the node named `name`; the same text when it is not there. */
export function removeNodeText(text: string, name: string): string {
  const doc = parseDocument(text);
  if (doc.errors.length) throw new FlanctlError(`cannot edit the inventory: ${doc.errors[0].message.split('\n')[0]}`);
  const nodes = doc.get('nodes', true);
  if (!isSeq(nodes)) return text;
  const i = nodes.items.findIndex((item) => isMap(item) && item.get('name') === name);
  if (i < 0) return text;
  nodes.delete(i);
  return doc.toString(styleOf(text));
}

export async function writeInventoryWithoutNode(file: string, name: string): Promise<{ changed: boolean }> {
  const before = readFileSync(file, 'utf8');
  const after = removeNodeText(before, name);
  if (after === before) return { changed: false };
  const { inventory } = await parseInventory(after, file);
  if (inventory.nodes.some((n) => n.name === name)) throw new FlanctlError(`editing ${file} did not remove ${name}; the file was left unchanged`);
  replaceInventoryFile(file, after);
  return { changed: true };
}
