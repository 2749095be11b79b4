/**
 * Connector over SSH (node-ssh / ssh2). One connection per host, reused by every exec/read/write;
 * host keys verified (known-hosts.ts); `sudo -n` in front of every command when ssh.user is not
 * root; argv quoted by shellQuote only. Writes are atomic: a temp file in the same directory, chmod,
 * rename. As root, read and write use SFTP (writes with many requests in flight, no remote shell
 * start); as another user they go through `sudo -n sh -c <fixed script>` with the data on stdin.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { posix } from 'node:path';
import type { NodeSSH } from 'node-ssh';
import type { Duplex, Readable } from 'node:stream';
import { ExecError, HostKeyError, SshError, errorMessage } from '../errors.js';
import type { Inventory, NodeSpec } from '../model/inventory.js';
import type { Connector, ExecOptions, ExecResult } from './connector.js';
import { hostVerifier } from './known-hosts.js';
import { shellQuote } from './quote.js';
import { MISSING_EXIT, readArgv, writeArgv } from './remote-scripts.js';

// ssh2 ships no types (and @types/ssh2 is not a dependency): the few parts used here.
type Cb<T = unknown> = (err: (Error & { code?: unknown }) | null | undefined, v?: T) => void;
interface ClientChannel {
  stderr: Readable;
  on(ev: 'data', fn: (b: Buffer) => void): this;
  on(ev: 'exit', fn: (code: number | null, signal?: string) => void): this;
  on(ev: 'close', fn: () => void): this;
  end(data?: string | Buffer): void;
  signal(name: string): void;
  close(): void;
}
export interface Client {
  exec(command: string, cb: (err: Error | undefined, stream: ClientChannel) => void): void;
  forwardOut(srcIp: string, srcPort: number, dstIp: string, dstPort: number, cb: (err: Error | undefined, stream: Duplex) => void): void;
  on(ev: 'error', fn: (e: Error) => void): void;
}
interface SFTPWrapper {
  open(path: string, flags: string, attrs: { mode: number }, cb: Cb<Buffer>): void;
  write(handle: Buffer, buf: Buffer, off: number, len: number, pos: number, cb: Cb): void;
  fchmod(handle: Buffer, mode: number, cb: Cb): void;
  close(handle: Buffer, cb: Cb): void;
  unlink(path: string, cb: Cb): void;
  ext_openssh_rename(from: string, to: string, cb: Cb): void;
  readFile(path: string, cb: Cb<Buffer>): void;
}

export interface SshConnectOptions {
  trustNewHosts?: boolean;
  /** A shared, already-connected jump host client (the pool passes one); else connectSsh opens its own. */
  jump?: () => Promise<Client>;
}

interface Endpoint {
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

async function openClient(inv: Inventory, ep: Endpoint, trustNewHosts: boolean, sock?: Duplex): Promise<NodeSSH> {
  const verifier = await hostVerifier({
    label: ep.label, host: ep.host, port: ep.port, knownHostsFile: inv.ssh.knownHostsFile,
    pinnedFingerprint: ep.pinnedFingerprint, trustNewHosts,
  });
  // node-ssh (and ssh2 under it) load only when a connection is made.
  const { NodeSSH } = await import('node-ssh');
  const ssh = new NodeSSH();
  try {
    await ssh.connect({
      host: ep.host,
      port: ep.port,
      username: ep.user,
      ...authConfig(inv),
      sock,
      readyTimeout: inv.ssh.connectTimeoutMs,
      keepaliveInterval: 15_000,
      hostVerifier: (key: Buffer, done: (ok: boolean) => void) => verifier.verify(key, done),
      algorithms: { serverHostKey: verifier.algorithms as never },
    });
  } catch (e) {
    ssh.dispose();
    const problem = verifier.problem();
    if (problem) throw problem;
    if (e instanceof SshError || e instanceof HostKeyError) throw e;
    throw describeConnectError(ep, e);
  }
  // node-ssh removes its error listener once ready: keep one so a dropped link cannot crash us.
  ssh.connection!.on('error', () => {});
  return ssh;
}

/** At most `n` channels at once per connection (sshd's MaxSessions defaults to 10). */
function limiter(n: number) {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (active >= n) await new Promise<void>((r) => waiting.push(r));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

function execRaw(client: Client, command: string, opts: ExecOptions = {}): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    client.exec(command, (err: Error | undefined, stream: ClientChannel) => {
      if (err) return reject(err);
      const out: Buffer[] = [];
      const errs: Buffer[] = [];
      let code: number | null = null;
      let signal: string | undefined;
      let timedOut = false;
      const timer = opts.timeoutMs
        ? setTimeout(() => {
            timedOut = true;
            stream.signal('KILL');
            stream.close();
          }, opts.timeoutMs)
        : undefined;
      stream.on('data', (b: Buffer) => out.push(b));
      stream.stderr.on('data', (b: Buffer) => errs.push(b));
      stream.on('exit', (c: number | null, sig?: string) => {
        code = c;
        signal = sig;
      });
      stream.on('close', () => {
        if (timer) clearTimeout(timer);
        let stderr = Buffer.concat(errs).toString('utf8');
        if (timedOut) stderr += `\n(timed out after ${opts.timeoutMs} ms)`;
        else if (signal) stderr += `\n(killed by SIG${signal})`;
        resolve({ code: timedOut ? 124 : code ?? 255, stdout: Buffer.concat(out), stderr });
      });
      stream.end(opts.stdin ?? undefined);
    });
  });
}

const CHUNK = 32 * 1024;
const IN_FLIGHT = 64;

function sftpCall<T>(fn: (cb: Cb<T>) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v as T))));
}

/** Upload a buffer with up to IN_FLIGHT write requests outstanding (like ssh2's fastPut). */
async function sftpWriteFile(sftp: SFTPWrapper, path: string, content: Buffer, mode: number): Promise<void> {
  const handle = await sftpCall<Buffer>((cb) => sftp.open(path, 'w', { mode }, cb));
  try {
    let next = 0;
    const worker = async () => {
      while (next < content.length) {
        const off = next;
        next += CHUNK;
        const len = Math.min(CHUNK, content.length - off);
        await sftpCall((cb) => sftp.write(handle, content, off, len, off, cb));
      }
    };
    await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, Math.ceil(content.length / CHUNK) || 1) }, worker));
    await sftpCall((cb) => sftp.fchmod(handle, mode, cb));
  } finally {
    await sftpCall((cb) => sftp.close(handle, cb)).catch(() => {});
  }
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
    ssh = await openClient(inv, ep, !!opts.trustNewHosts, sock);
  } catch (e) {
    ownJump?.dispose();
    throw e;
  }
  const client = ssh.connection as unknown as Client;
  const asRoot = inv.ssh.user === 'root';
  const wrap = (argv: string[]) => shellQuote(asRoot ? argv : ['sudo', '-n', '--', ...argv]);
  const channel = limiter(8);
  let sftp: Promise<SFTPWrapper> | undefined;
  const getSftp = () => (sftp ??= ssh.requestSFTP() as Promise<SFTPWrapper>);
  const fail = (what: string, e: unknown) =>
    new SshError(`${ep.label} (${ep.host}): ${what}: ${errorMessage(e)}`, { cause: e });
  const getSftpOrFail = () =>
    getSftp().catch((e) => {
      sftp = undefined;
      throw fail('could not open SFTP', e);
    });

  const raw = (argv: string[], o?: ExecOptions) =>
    channel(() => execRaw(client, wrap(argv), o)).catch((e) => {
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
            return await sftpCall<Buffer>((cb) => s.readFile(path, cb));
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
      const tmp = posix.join(dir, `.${posix.basename(path)}.flanctl-${randomBytes(4).toString('hex')}`);
      await channel(async () => {
        const s = await getSftpOrFail();
        try {
          try {
            await sftpWriteFile(s, tmp, buf, mode);
          } catch (e) {
            if ((e as { code?: number }).code !== 2) throw e; // 2 = SSH_FX_NO_SUCH_FILE: parent missing
            const r = await execRaw(client, wrap(['mkdir', '-p', '-m', '0755', '--', dir]));
            if (r.code !== 0) throw new ExecError(node.name, ['mkdir', '-p', dir], r.code, r.stderr);
            await sftpWriteFile(s, tmp, buf, mode);
          }
          await sftpCall((cb) => s.ext_openssh_rename(tmp, path, cb));
        } catch (e) {
          await sftpCall((cb) => s.unlink(tmp, cb)).catch(() => {});
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

/** Connect to ssh.jumpHost (same credentials and host key checks as the nodes). */
export async function openJump(inv: Inventory, trustNewHosts: boolean): Promise<NodeSSH> {
  const j = inv.ssh.jumpHost;
  if (!j) throw new SshError('no ssh.jumpHost in the inventory');
  return openClient(inv, { label: 'jump host', host: j.host, port: j.port, user: j.user ?? inv.ssh.user }, trustNewHosts);
}
