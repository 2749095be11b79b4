/**
 * src/steps/ owns one resource kind per file (file, binary, service, iptables, sysctl, modules, etcd
 * config, lease wait, peer routes): factories returning Steps whose check() observes a node (or etcd)
 * and returns the Change that converges it. Steps may import engine/, connector/, kv/, pki/, model/.
 *
 * This file: small helpers shared by the step kinds.
 */
import type { Connector } from '../connector/connector.js';
import { FlanctlError } from '../errors.js';
import type { NodeSpec } from '../model/inventory.js';
import type { Kv } from '../kv/kv.js';
import type { StepContext } from '../engine/step.js';

/** The node, connector (and kv) a node step needs; a programming error when the target lacks them. */
export function onNode(ctx: StepContext, stepId: string): { node: NodeSpec; conn: Connector } {
  if (!ctx.node || !ctx.conn) throw new FlanctlError(`step ${stepId} needs a node and a connection`);
  return { node: ctx.node, conn: ctx.conn };
}

export function needKv(ctx: StepContext, stepId: string): Kv {
  if (!ctx.kv) throw new FlanctlError(`step ${stepId} needs etcd`);
  return ctx.kv;
}

/**
 * A short before/after for `plan`: the lines that differ with `context` lines around them (common
 * head and tail cut, marked "…"). Never call this for secrets.
 */
export function shortDiff(before: string, after: string, context = 1, maxLines = 12): { before: string; after: string } {
  const a = before.replace(/\n$/, '').split('\n');
  const b = after.replace(/\n$/, '').split('\n');
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const from = Math.max(0, head - context);
  const cut = (lines: string[]) => {
    const to = Math.min(lines.length, lines.length - tail + context);
    let part = lines.slice(from, to);
    if (part.length > maxLines) part = [...part.slice(0, maxLines), `… (${part.length - maxLines} more lines)`];
    return [...(from > 0 ? ['…'] : []), ...part, ...(to < lines.length ? ['…'] : [])].join('\n');
  };
  return { before: before === '' ? '' : cut(a), after: cut(b) };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Poll `probe` every `intervalMs` until it returns a value or `timeoutMs` passes (then undefined). */
export async function pollUntil<T>(probe: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 500): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() >= deadline) return undefined;
    await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
}

/** Parse KEY=VALUE lines (subnet.env); comments and blanks ignored. */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m) out[m[1]] = m[2].trim().replace(/^"(.*)"$/, '$1');
  }
  return out;
}

/** FLANNEL_SUBNET "10.244.5.1/24" → the lease network "10.244.5.0/24" (first address minus one). */
export function leaseSubnetFromEnv(flannelSubnet: string | undefined): string | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(flannelSubnet ?? '');
  if (!m || Number(m[4]) < 1) return undefined;
  return `${m[1]}.${m[2]}.${m[3]}.${Number(m[4]) - 1}/${m[5]}`;
}
