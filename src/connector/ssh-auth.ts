/**
 * Opening an SSH connection: credentials (key file or agent), host-key verification (known-hosts.ts,
 * pinned fingerprints), connect errors that say what to do, and the jump host.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { posix } from 'node:path';
import type { NodeSSH } from 'node-ssh';
import type { Duplex } from 'node:stream';
import { HostKeyError, SshError, errorMessage } from '../errors.js';
import type { Inventory } from '../model/inventory.js';
import { hostVerifier } from './known-hosts.js';
import { loadOnce } from '../load-order.js';

/** node-ssh (and ssh2 under it) load only when a connection is made, before a later-asked etcd3 (load-order.ts). */
const loadSsh = loadOnce(() => import('node-ssh'));

export const KEEPALIVE_MS = 5_000;
export const KEEPALIVE_COUNT = 2;
/** Seconds without an answer after which a connection is given up. */
export const NO_ANSWER_SECONDS = (KEEPALIVE_MS * (KEEPALIVE_COUNT + 1)) / 1000;

export interface Endpoint {
  label: string;
  host: string;
  port: number;
  user: string;
  pinnedFingerprint?: string;
}

function authConfig(inv: Inventory): { privateKey?: string; agent?: string } {
  const agentSock = process.env.SSH_AUTH_SOCK;
  if (inv.ssh.agent && !agentSock) {
    throw new SshError('ssh.agent is true but SSH_AUTH_SOCK is not set', { hint: 'Start an agent (eval $(ssh-agent); ssh-add), or set ssh.identityFile.' });
  }
  let keyFile = inv.ssh.identityFile;
  if (!keyFile && !inv.ssh.agent && !agentSock) {
    keyFile = ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((f) => posix.join(homedir(), '.ssh', f)).find((f) => existsSync(f));
    if (!keyFile) throw new SshError('no SSH credentials: set ssh.identityFile or ssh.agent in the inventory (no SSH_AUTH_SOCK, no ~/.ssh/id_* key)');
  }
  let privateKey: string | undefined;
  if (keyFile) {
    try {
      privateKey = readFileSync(keyFile, 'utf8');
    } catch (e) {
      throw new SshError(`ssh.identityFile ${keyFile}: ${errorMessage(e)}`);
    }
    if (/ENCRYPTED/.test(privateKey) || /bcrypt/.test(Buffer.from(privateKey.replace(/-----[^-]+-----|\s/g, ''), 'base64').subarray(0, 64).toString('latin1'))) {
      throw new SshError(`ssh.identityFile ${keyFile} is passphrase-protected`, { hint: 'Load it into an agent (ssh-add) and set ssh.agent: true.' });
    }
  }
  return { privateKey, agent: inv.ssh.agent || (!keyFile && agentSock) ? agentSock : undefined };
}

function describeConnectError(ep: Endpoint, e: unknown): SshError {
  const msg = errorMessage(e);
  const where = `${ep.label} (${ep.user}@${ep.host}:${ep.port})`;
  const code = (e as { code?: string }).code;
  if (/authentication methods failed/i.test(msg)) {
    return new SshError(`${where}: SSH authentication failed`, { hint: 'Check ssh.user, ssh.identityFile / ssh.agent and the authorized_keys on the host.', cause: e });
  }
  if (code === 'ECONNREFUSED') return new SshError(`${where}: connection refused (is sshd running on port ${ep.port}?)`, { cause: e });
  if (/timed out|ETIMEDOUT|No response/i.test(msg) || code === 'ETIMEDOUT') {
    return new SshError(`${where}: no SSH answer within the connect timeout`, { hint: 'Check the address and firewall, or raise ssh.connectTimeoutMs.', cause: e });
  }
  return new SshError(`${where}: ${msg}`, { cause: e });
}

/**
 * `signal`: aborted when the command ends while this connect is still under way (the pool's closeAll,
 * e.g. etcd failed first): the half-open connection is dropped at once instead of being waited for.
 */
export async function openClient(inv: Inventory, ep: Endpoint, trustNewHosts: boolean, sock?: Duplex, signal?: AbortSignal): Promise<NodeSSH> {
  const lib = loadSsh(); // asked for before any await: ahead of an etcd3 load asked for after this call
  lib.catch(() => {});
  const verifier = await hostVerifier({
    label: ep.label, host: ep.host, port: ep.port, knownHostsFile: inv.ssh.knownHostsFile,
    pinnedFingerprint: ep.pinnedFingerprint, trustNewHosts,
  });
  const { NodeSSH } = await lib;
  const ssh = new NodeSSH();
  const abandon = () => (ssh.connection as unknown as { destroy(): void } | null)?.destroy();
  signal?.addEventListener('abort', abandon, { once: true });
  try {
    if (signal?.aborted) throw new Error('abandoned');
    await ssh.connect({
      host: ep.host,
      port: ep.port,
      username: ep.user,
      ...authConfig(inv),
      sock,
      readyTimeout: inv.ssh.connectTimeoutMs,
      // A frozen node is given up after ~15 s of unanswered keepalives (KEEPALIVE_MS × (count + 1)).
      keepaliveInterval: KEEPALIVE_MS,
      keepaliveCountMax: KEEPALIVE_COUNT,
      hostVerifier: (key: Buffer, done: (ok: boolean) => void) => verifier.verify(key, done),
      algorithms: { serverHostKey: verifier.algorithms as never },
    });
  } catch (e) {
    ssh.dispose();
    if (signal?.aborted) throw new SshError(`${ep.label} (${ep.host}:${ep.port}): connect abandoned (the command ended first)`, { cause: e });
    const problem = verifier.problem();
    if (problem) throw problem;
    if (e instanceof SshError || e instanceof HostKeyError) throw e;
    throw describeConnectError(ep, e);
  } finally {
    signal?.removeEventListener('abort', abandon);
  }
  readyConnection(ssh.connection!);
  return ssh;
}

/**
 * What a connection gets once it is ready:
 *  - an error listener: node-ssh removes its own once ready, and a dropped link must not crash us;
 *  - TCP_NODELAY: ssh2 leaves Nagle's algorithm on, so an exec's small request waited for the ACK of the
 *    one before, which sshd delays by up to 40 ms. Measured on a lab node, 100 execs of `true` one after
 *    the other: 44 ms each with Nagle, 2.4 ms without. (No-op on a jump host's forwarded stream.)
 */
export function readyConnection(client: { on(event: 'error', listener: () => void): unknown; setNoDelay(noDelay?: boolean): unknown }): void {
  client.on('error', () => {});
  client.setNoDelay(true);
}

/** At most `n` channels at once per connection (sshd's MaxSessions defaults to 10). */

/** Connect to ssh.jumpHost (same credentials and host key checks as the nodes). */
export async function openJump(inv: Inventory, trustNewHosts: boolean): Promise<NodeSSH> {
  const j = inv.ssh.jumpHost;
  if (!j) throw new SshError('no ssh.jumpHost in the inventory');
  return openClient(inv, { label: 'jump host', host: j.host, port: j.port, user: j.user ?? inv.ssh.user }, trustNewHosts);
}
