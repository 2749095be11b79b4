/** "Skip the upload when the remote sha256 already matches" (DESIGN.md §4 "Idempotent"). */
import { createHash } from 'node:crypto';
import type { Connector } from './connector.js';

export function sha256Hex(content: string | Buffer): string {
  return createHash('sha256').update(content).digest('hex');
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
