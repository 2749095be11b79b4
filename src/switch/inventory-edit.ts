/**
 * Writes a new `network.backend` into the inventory file (DESIGN.md §2) with the yaml Document API:
 * comments, key order and the rest of the file stay as they were. The result is validated before an
 * atomic write (temp file in the same folder + rename, same file mode).
 */
import { readFileSync, renameSync, statSync, writeFileSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { isMap, isScalar, parseDocument } from 'yaml';
import { parseInventory, type Backend } from '../inventory.js';
import { FlanctlError } from '../errors.js';

type Plain = Record<string, string | number | boolean>;

const DEFAULTS: Record<string, Plain> = {
  vxlan: { vni: 1, port: 8472, directRouting: false, gbp: false },
  'host-gw': {},
  ipip: { directRouting: false },
  wireguard: { listenPort: 51820, persistentKeepaliveInterval: 0 },
  udp: { port: 8285 },
};

/** The backend as the file should spell it: `type` plus options that differ from the defaults. */
export function backendForFile(b: Backend): Plain {
  const out: Plain = { type: b.type };
  const defaults = DEFAULTS[b.type] ?? {};
  for (const [k, v] of Object.entries(b)) {
    if (k === 'type' || v === undefined) continue;
    if (defaults[k] !== v) out[k] = v as string | number | boolean;
  }
  return out;
}

/** Stringify options that reproduce the file's own style (sequence indentation, flow padding). */
export function styleOf(text: string): { indentSeq: boolean; flowCollectionPadding: boolean } {
  const lines = text.split('\n');
  let indentSeq = true;
  for (let i = 0; i + 1 < lines.length; i++) {
    const key = /^(\s*)[^\s#-][^:]*:\s*(#.*)?$/.exec(lines[i]);
    const item = /^(\s*)- /.exec(lines[i + 1]);
    if (key && item) {
      indentSeq = item[1].length > key[1].length;
      break;
    }
  }
  const padded = (text.match(/[[{] +[^\s\]}]/g) ?? []).length;
  const tight = (text.match(/[[{][^\s\]}#]/g) ?? []).length;
  return { indentSeq, flowCollectionPadding: padded > tight };
}

/** The new file text; keys that exist and still hold the new backend's value are kept as written. */
export function editBackendText(text: string, backend: Backend): string {
  const doc = parseDocument(text);
  if (doc.errors.length) throw new FlanctlError(`cannot edit the inventory: ${doc.errors[0].message.split('\n')[0]}`);
  const desired = backendForFile(backend);
  const full = backend as unknown as Plain;
  const existing = doc.getIn(['network', 'backend'], true);
  if (!isMap(existing)) {
    doc.setIn(['network', 'backend'], doc.createNode(desired));
    return doc.toString(styleOf(text));
  }
  for (const pair of [...existing.items]) {
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    const current = isScalar(pair.value) ? pair.value.value : undefined;
    const keep = key in desired || (key !== 'type' && key in full && full[key] === current);
    if (!keep) existing.delete(pair.key);
  }
  for (const [k, v] of Object.entries(desired)) existing.set(k, v);
  return doc.toString(styleOf(text));
}

function sameBackend(a: Backend, b: Backend): boolean {
  return JSON.stringify(backendForFile(a)) === JSON.stringify(backendForFile(b));
}

/** Updates network.backend of the inventory file in place. Returns the old and new text. */
export async function writeInventoryBackend(file: string, backend: Backend): Promise<{ changed: boolean; before: string; after: string }> {
  const before = readFileSync(file, 'utf8');
  const after = editBackendText(before, backend);
  if (after === before) return { changed: false, before, after };
  const { inventory } = await parseInventory(after, file);
  if (!sameBackend(inventory.network.backend, backend)) {
    throw new FlanctlError(`editing ${file} did not produce backend ${backend.type} (got ${inventory.network.backend.type}); the file was left unchanged`);
  }
  const tmp = join(dirname(file), `.${basename(file)}.flanctl-${process.pid}.tmp`);
  try {
    writeFileSync(tmp, after, { mode: statSync(file).mode & 0o777 });
    renameSync(tmp, file);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
    throw e;
  }
  return { changed: true, before, after };
}
