/**
 * Writes a new `network.backend` into the inventory file (DESIGN.md §2) with the yaml Document API:
 * comments, key order and the rest of the file stay as they were. The result is validated before an
 * atomic write (temp file in the same folder + rename, same file mode).
 */
import { readFileSync } from 'node:fs';
import { isMap, isScalar, parseDocument } from 'yaml';
import { parseInventory, type Backend } from '../model/inventory.js';
import { FlanctlError } from '../errors.js';
import { sameJson } from '../model/flannel-config.js';
import { replaceInventoryFile } from '../model/inventory-write.js';

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

interface Edit {
  start: number;
  end: number;
  insert: string;
}

/** Which existing keys stay: the ones the new backend spells, and options still holding its value. */
function keeps(key: string, current: unknown, desired: Plain, full: Plain): boolean {
  return key in desired || (key !== 'type' && key in full && full[key] === current);
}

/**
 * The edit as a text patch of a block-style backend map: changed values replaced in place (same
 * quoting), dropped keys' lines removed, new keys appended with the map's indentation. Every other
 * byte of the file stays. undefined when the map is not block style (the caller falls back).
 */
function patchBlockBackend(text: string, desired: Plain, full: Plain): string | undefined {
  const doc = parseDocument(text);
  const map = doc.getIn(['network', 'backend'], true);
  if (!isMap(map) || map.flow || !map.items.length) return undefined;
  const lineStart = (pos: number) => text.lastIndexOf('\n', pos - 1) + 1;
  const lineEnd = (pos: number) => {
    const i = text.indexOf('\n', pos);
    return i < 0 ? text.length : i + 1;
  };
  const edits: Edit[] = [];
  const present = new Set<string>();
  let indent = '';
  let appendAt = 0;
  for (const pair of map.items) {
    if (!isScalar(pair.key) || !isScalar(pair.value) || !pair.key.range || !pair.value.range) return undefined;
    const key = String(pair.key.value);
    const [vStart, vEnd] = pair.value.range;
    if (!indent) indent = text.slice(lineStart(pair.key.range[0]), pair.key.range[0]);
    appendAt = Math.max(appendAt, lineEnd(vEnd));
    if (!keeps(key, pair.value.value, desired, full)) {
      edits.push({ start: lineStart(pair.key.range[0]), end: lineEnd(vEnd), insert: '' });
      continue;
    }
    present.add(key);
    if (key in desired && desired[key] !== pair.value.value) {
      const q = text[vStart];
      const v = String(desired[key]);
      edits.push({ start: vStart, end: vEnd, insert: typeof desired[key] === 'string' && (q === '"' || q === "'") ? `${q}${v}${q}` : v });
    }
  }
  if (!/^ +$/.test(indent)) return undefined;
  const added = Object.entries(desired).filter(([k]) => !present.has(k)).map(([k, v]) => `${indent}${k}: ${v}\n`).join('');
  if (added) edits.push({ start: appendAt, end: appendAt, insert: (appendAt > 0 && text[appendAt - 1] !== '\n' ? '\n' : '') + added });
  let out = text;
  for (const e of edits.sort((a, b) => b.start - a.start || b.end - a.end)) out = out.slice(0, e.start) + e.insert + out.slice(e.end);
  return out;
}

/**
 * The new file text. A block-style backend is patched in the text itself, so every other line —
 * comments included — stays byte for byte; otherwise the yaml Document API rewrites the file
 * (comments and key order kept, layout in the file's own style).
 */
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
    if (!keeps(key, isScalar(pair.value) ? pair.value.value : undefined, desired, full)) existing.delete(pair.key);
  }
  for (const [k, v] of Object.entries(desired)) existing.set(k, v);
  const viaDocument = doc.toString(styleOf(text));
  const patched = patchBlockBackend(text, desired, full);
  if (patched !== undefined) {
    const check = parseDocument(patched);
    if (!check.errors.length && sameJson(check.toJS(), parseDocument(viaDocument).toJS())) return patched;
  }
  return viaDocument;
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
  replaceInventoryFile(file, after);
  return { changed: true, before, after };
}
