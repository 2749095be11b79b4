/** "Skip the upload when the remote sha256 already matches" (DESIGN.md §4 "Idempotent"). */
import { createHash } from 'node:crypto';
import type { Connector } from './connector.js';

/**
 * Digests of Buffers already hashed: the same binary (e.g. a 40 MB flanneld from the tarball) is
 * checked against every node, and must not be hashed once per node. Buffers handed to steps are
 * never mutated afterwards.
 */
const digests = new WeakMap<Buffer, string>();

export function sha256Hex(content: string | Buffer): string {
  if (typeof content === 'string') return createHash('sha256').update(content).digest('hex');
  let hex = digests.get(content);
  if (!hex) digests.set(content, (hex = createHash('sha256').update(content).digest('hex')));
  return hex;
}

/** The file's sha256 on the host (via `sha256sum`), or undefined when it is missing or unreadable. */
export async function remoteSha256(conn: Connector, path: string): Promise<string | undefined> {
  const r = await conn.exec(['sha256sum', '--', path]);
  if (r.code !== 0) return undefined;
  const hex = r.stdout.trim().split(/\s+/)[0]?.replace(/^\\/, '');
  return hex && /^[0-9a-f]{64}$/.test(hex) ? hex : undefined;
}

/** True when the host already holds exactly `content` at path. */
export async function remoteMatches(conn: Connector, path: string, content: string | Buffer): Promise<boolean> {
  return (await remoteSha256(conn, path)) === sha256Hex(content);
}
