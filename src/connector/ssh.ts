/**
 * Connector over SSH (node-ssh / ssh2). One connection per host, reused by every exec/read/write;
 * host keys verified (known-hosts.ts); `sudo -n` in front of every command when ssh.user is not
 * root; argv quoted by shellQuote only. Writes are atomic: a temp file in the same directory, chmod,
 * rename. As root, read and write use SFTP (writes with many requests in flight, no remote shell
 * start); as another user they go through `sudo -n sh -c <fixed script>` with the data on stdin.
 */
import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import type { NodeSSH } from 'node-ssh';
import type { Duplex } from 'node:stream';
import { ExecError, NoAnswerError, SshError, errorMessage } from '../errors.js';
import type { Inventory, NodeSpec } from '../model/inventory.js';
import type { Connector, ExecOptions, ExecResult } from './connector.js';
import { shellQuote } from './quote.js';
import { MISSING_EXIT, readArgv, writeArgv } from './remote-scripts.js';
import { NO_ANSWER_SECONDS, openClient, openJump, type Endpoint } from './ssh-auth.js';
import { execRaw, limiter, type Client } from './ssh-exec.js';
import { sftpCall, sftpWriteFile, type SFTPWrapper } from './ssh-sftp.js';

export { openJump } from './ssh-auth.js';
export type { Client } from './ssh-exec.js';

export interface SshConnectOptions {
  trustNewHosts?: boolean;
  /** A shared, already-connected jump host client (the pool passes one); else connectSsh opens its own. */
  jump?: () => Promise<Client>;
  /** Aborted: a connect still under way is dropped (ssh-auth.ts openClient). */
  signal?: AbortSignal;
}


export async function connectSsh(inv: Inventory, node: NodeSpec, opts: SshConnectOptions = {}): Promise<Connector> {
  const ep: Endpoint = {
    label: node.name, host: node.host, port: node.sshPort ?? inv.ssh.port, user: inv.ssh.user, pinnedFingerprint: node.hostKeyFingerprint,
  };
  let ownJump: NodeSSH | undefined;
  let sock: Duplex | undefined;
  if (inv.ssh.jumpHost) {
    const j = inv.ssh.jumpHost;
    let jumpClient: Client;
    if (opts.jump) jumpClient = await opts.jump();
    else {
      ownJump = await openJump(inv, !!opts.trustNewHosts);
      jumpClient = ownJump.connection as unknown as Client;
    }
    try {
      sock = await new Promise<Duplex>((resolve, reject) =>
        jumpClient.forwardOut('127.0.0.1', 0, ep.host, ep.port, (err, stream) => (err ? reject(err) : resolve(stream))),
      );
    } catch (e) {
      ownJump?.dispose();
      throw new SshError(`${ep.label} (${ep.host}:${ep.port}): the jump host ${j.host} could not reach it: ${errorMessage(e)}`, { cause: e });
    }
  }
  let ssh: NodeSSH;
  try {
    ssh = await openClient(inv, ep, !!opts.trustNewHosts, sock, opts.signal);
  } catch (e) {
    ownJump?.dispose();
    throw e;
  }
  const client = ssh.connection as unknown as Client;
  // Unanswered keepalives end the connection ("Keepalive timeout"): every operation then fails with
  // NoAnswerError instead of a bare exit 255 or "Not connected".
  let gone: Error | undefined;
  const conn = ssh.connection as unknown as { on(ev: string, fn: (e?: Error) => void): void };
  conn.on('error', (e) => {
    if (e && /keepalive/i.test(e.message)) gone = new NoAnswerError(node.name, NO_ANSWER_SECONDS);
  });
  let died!: (e: Error) => void;
  // Rejected when the connection ends: an SFTP request sent on a dead channel is never answered.
  const death = new Promise<never>((_, reject) => (died = reject));
  death.catch(() => {});
  conn.on('close', () => {
    gone ??= new SshError(`${ep.label} (${ep.host}): the SSH connection was closed`);
    died(gone);
  });
  const alive = () => {
    if (gone) throw gone;
  };
  const guard = <T>(p: Promise<T>): Promise<T> => Promise.race([p, death]);
  const NO_STATUS_GRACE_MS = 200;
  const asRoot = inv.ssh.user === 'root';
  const wrap = (argv: string[]) => shellQuote(asRoot ? argv : ['sudo', '-n', '--', ...argv]);
  const channel = limiter(8);
  let sftp: Promise<SFTPWrapper> | undefined;
  const getSftp = () => (sftp ??= ssh.requestSFTP() as Promise<SFTPWrapper>);
  const fail = (what: string, e: unknown) =>
    gone ?? new SshError(`${ep.label} (${ep.host}): ${what}: ${errorMessage(e)}`, { cause: e });
  const getSftpOrFail = () =>
    getSftp().catch((e) => {
      sftp = undefined;
      throw fail('could not open SFTP', e);
    });

  /** One exec on an open channel slot; throws the connection's own error when it died under the command. */
  const execAlive = async (argv: string[], o?: ExecOptions) => {
    alive();
    const r = await guard(execRaw(client, wrap(argv), o));
    // A channel closed without an exit status: when the connection is dying (e.g. unanswered
    // keepalives), its close can come a moment after the channel's; report that, not "exited 255".
    if (r.noStatus) await Promise.race([death, new Promise((res) => setTimeout(res, NO_STATUS_GRACE_MS))]).catch(() => {});
    alive(); // the channel was closed because the connection died, not because the command ended
    return r;
  };
  const raw = (argv: string[], o?: ExecOptions) =>
    channel(() => execAlive(argv, o)).catch((e) => {
      throw fail(`could not run ${argv[0]}`, e);
    });

  return {
    name: node.name,

    async exec(argv, o) {
      const r = await raw(argv, o);
      return { code: r.code, stdout: r.stdout.toString('utf8'), stderr: r.stderr } satisfies ExecResult;
    },

    async read(path) {
      if (asRoot) {
        // SFTP: no remote shell start (a slow ~/.bashrc costs every exec, not SFTP).
        return channel(async () => {
          const s = await getSftpOrFail();
          try {
            alive();
            return await guard(sftpCall<Buffer>((cb) => s.readFile(path, cb)));
          } catch (e) {
            if ((e as { code?: number }).code === 2) return undefined; // SSH_FX_NO_SUCH_FILE
            throw fail(`could not read ${path}`, e);
          }
        });
      }
      const r = await raw(readArgv(path));
      if (r.code === MISSING_EXIT) return undefined;
      if (r.code !== 0) throw new ExecError(node.name, ['cat', path], r.code, r.stderr);
      return r.stdout;
    },

    async write(path, content, mode) {
      const buf = Buffer.isBuffer(content) ? content : Buffer.from(content);
      if (!asRoot) {
        const r = await raw(writeArgv(path, mode), { stdin: buf });
        if (r.code !== 0) throw new ExecError(node.name, ['write', path], r.code, r.stderr);
        return;
      }
      const dir = posix.dirname(path);
      const tmp = posix.join(dir, `.${posix.basename(path)}.flanctl-${randomBytes(8).toString('hex')}`);
      await channel(async () => {
        alive();
        const s = await guard(getSftpOrFail());
        try {
          try {
            await guard(sftpWriteFile(s, tmp, buf, mode));
          } catch (e) {
            if ((e as { code?: number }).code !== 2) throw e; // 2 = SSH_FX_NO_SUCH_FILE: parent missing
            const r = await execAlive(['mkdir', '-p', '-m', '0755', '--', dir]);
            if (r.code !== 0) throw new ExecError(node.name, ['mkdir', '-p', dir], r.code, r.stderr);
            await guard(sftpWriteFile(s, tmp, buf, mode));
          }
          await guard(sftpCall((cb) => s.ext_openssh_rename(tmp, path, cb)));
        } catch (e) {
          if (!gone) await guard(sftpCall((cb) => s.unlink(tmp, cb))).catch(() => {}); // a dead link: the next run sweeps it
          if (e instanceof ExecError) throw e;
          throw fail(`could not write ${path}`, e);
        }
      });
    },

    async close() {
      ssh.dispose();
      ownJump?.dispose();
    },
  };
}

