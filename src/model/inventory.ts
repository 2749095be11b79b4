/**
 * src/model/ owns the inventory and what is derived from it without I/O on hosts or etcd: the schema
 * (inventory-schema.ts), CIDR math, flannel's network rules and config JSON, lease keys and parsing,
 * remote paths and rendered unit texts. It imports nothing from the rest of src/ but errors.ts.
 *
 * inventory.yaml → typed Inventory: every problem is reported with its YAML path and line
 * (InventoryError, exit 2). The schema and types are in inventory-schema.ts, the semantic network
 * rules in network.ts.
 */
import { lstatSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import type { z } from 'zod';
import { InventoryError, type InventoryProblem } from '../errors.js';
import { checkNetworkRules } from './network.js';
import { expandPath, inventorySchema, type Inventory } from './inventory-schema.js';

export * from './inventory-schema.js';

function problemsFromZod(err: z.ZodError, doc: Document, lc: LineCounter): InventoryProblem[] {
  return err.issues.map((issue) => {
    const path = issue.path.map((k) => (typeof k === 'number' ? `[${k}]` : `.${String(k)}`)).join('').replace(/^\./, '') || '(root)';
    let message = issue.message;
    if (issue.code === 'unrecognized_keys') message = `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}`;
    return { path, message, line: lineOf(doc, lc, issue.path as (string | number)[]) };
  });
}

/** The 1-based line of the deepest existing node along a YAML path. */
export function lineOf(doc: Document, lc: LineCounter, path: (string | number)[]): number | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
    if (isNode(node) && node.range) return lc.linePos(node.range[0]).line;
  }
  return undefined;
}

export interface LoadedInventory {
  inventory: Inventory;
  doc: Document;
  lineCounter: LineCounter;
}

/** Parse and validate; throws InventoryError (exit 2) listing every problem with path and line. */
export async function loadInventory(file: string): Promise<Inventory> {
  return (await loadInventoryDocument(file)).inventory;
}

export async function loadInventoryDocument(file: string): Promise<LoadedInventory> {
  return parseInventory(readInventoryFile(file), resolve(file));
}

const WHERE = 'pass -i/--inventory (env FLANCTL_INVENTORY)';

/** The inventory's text; every way the path can be wrong is an InventoryError (exit 2) naming the path. */
export function readInventoryFile(file: string): string {
  if (file.trim() === '') throw new InventoryError('(empty path)', [{ path: '(file)', message: 'the inventory path is empty' }], `Give a file: ${WHERE}.`);
  const abs = resolve(file);
  const bad = (message: string, hint = `Give the inventory file itself: ${WHERE}.`) => new InventoryError(abs, [{ path: '(file)', message }], hint);
  let st;
  try {
    st = statSync(abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw bad('is a symbolic link loop (following it leads back to itself)');
    if (code === 'ENOENT') {
      const link = (() => { try { return lstatSync(abs).isSymbolicLink() ? readlinkSync(abs) : undefined; } catch { return undefined; } })();
      if (link !== undefined) throw bad(`is a symbolic link to ${clipInput(link)}, which does not exist`);
      throw bad('not found', `Create one with \`flanctl init\`, or ${WHERE}.`);
    }
    if (code === 'ENOTDIR') throw bad('not found (a part of the path is not a directory)');
    if (code === 'EACCES') throw bad('cannot be read (permission denied)', 'Run as a user who can read it, or fix its permissions.');
    throw bad(`cannot be read (${code ?? 'unknown error'})`);
  }
  if (st.isDirectory()) throw bad('is a directory, not an inventory file');
  if (!st.isFile()) throw bad('is not a regular file');
  try {
    return readFileSync(abs, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw bad(code === 'EACCES' ? 'cannot be read (permission denied)' : `cannot be read (${code ?? 'unknown error'})`);
  }
}

/** Input quoted back in a message: control characters escaped, at most `max` characters. */
export function clipInput(text: string, max = 40): string {
  const clean = [...text.replace(/\uFFFD+/g, '\uFFFD')].map((c) => (/[\u0000-\u001f\u007f-\u009f]/.test(c) ? `\\x${c.codePointAt(0)!.toString(16).padStart(2, '0')}` : c));
  return clean.length > max ? `${clean.slice(0, max).join('')}…` : clean.join('');
}

/** One line per problem, input echoed in it cut (a garbage file must not be printed back). */
function clipProblems(problems: InventoryProblem[]): InventoryProblem[] {
  return problems.map((p) => ({
    ...p,
    path: p.path.split('.').map((seg) => clipInput(seg)).join('.'),
    message: clipMessage(p.message),
  }));
}

function clipMessage(message: string): string {
  // Quoted input ("…", '…', `…`) and long unbroken tokens are cut to 40 characters; the whole to one line.
  const one = message.split('\n')[0].replace(/(["'`])([^"'`]{41,})\1/g, (_m, q: string, inner: string) => `${q}${clipInput(inner)}${q}`);
  const tokens = one.replace(/\S{61,}/g, (t) => clipInput(t, 60));
  return clipInput(tokens, 200);
}

export async function parseInventory(text: string, file: string): Promise<LoadedInventory> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length) {
    throw new InventoryError(file, clipProblems(doc.errors.map((e) => ({ path: '(yaml)', message: e.message.split('\n')[0], line: e.linePos?.[0].line ?? lineCounter.linePos(e.pos[0]).line }))));
  }
  let js: unknown;
  try {
    js = doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (e) {
    // e.g. "Excessive alias count" (an alias bomb) or a circular alias: the YAML is not data we can use.
    throw new InventoryError(file, clipProblems([{ path: '(yaml)', message: e instanceof Error ? e.message : String(e) }]));
  }
  const parsed = inventorySchema.safeParse(js);
  if (!parsed.success) throw new InventoryError(file, clipProblems(problemsFromZod(parsed.error, doc, lineCounter)));
  const raw = parsed.data;
  const baseDir = dirname(file);
  const inventory: Inventory = {
    ...raw,
    file,
    ipMasq: raw.flannel.ipMasq ?? raw.iptables.masquerade === 'flannel',
    pki: { ...raw.pki, dir: expandPath(raw.pki.dir, baseDir) },
    flannel: { ...raw.flannel, tarball: expandPath(raw.flannel.tarball, baseDir) },
    cni: {
      ...raw.cni,
      pluginsTarball: raw.cni.pluginsTarball && expandPath(raw.cni.pluginsTarball, baseDir),
      referencePluginsTarball: raw.cni.referencePluginsTarball && expandPath(raw.cni.referencePluginsTarball, baseDir),
    },
    etcd: {
      ...raw.etcd,
      caFile: raw.etcd.caFile && expandPath(raw.etcd.caFile, baseDir),
      certFile: raw.etcd.certFile && expandPath(raw.etcd.certFile, baseDir),
      keyFile: raw.etcd.keyFile && expandPath(raw.etcd.keyFile, baseDir),
    },
    ssh: {
      ...raw.ssh,
      identityFile: raw.ssh.identityFile && expandPath(raw.ssh.identityFile, baseDir),
      knownHostsFile: expandPath(raw.ssh.knownHostsFile, baseDir),
    },
    nodes: raw.nodes.map((n) => ({ ...n, publicIp: n.publicIp ?? n.host })),
  };
  const problems = checkNetworkRules(inventory).map((p) => ({ ...p, line: p.line ?? lineOf(doc, lineCounter, pathToKeys(p.path)) }));
  if (problems.length) throw new InventoryError(file, clipProblems(problems));
  return { inventory, doc, lineCounter };
}

/** "nodes[2].host" → ["nodes", 2, "host"] */
export function pathToKeys(path: string): (string | number)[] {
  return [...path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map((m) => (m[2] !== undefined ? Number(m[2]) : m[1]));
}

/** The TLS files flanctl uses for its own etcd connection. */
export function etcdTlsFiles(inv: Inventory): { ca: string; cert: string; key: string } {
  return {
    ca: inv.etcd.caFile ?? resolve(inv.pki.dir, 'ca.pem'),
    cert: inv.etcd.certFile ?? resolve(inv.pki.dir, 'flanneld.pem'),
    key: inv.etcd.keyFile ?? resolve(inv.pki.dir, 'flanneld-key.pem'),
  };
}
