/**
 * The SSH connector against a real OpenSSH sshd on 127.0.0.1 (random port, own host key,
 * own authorized_keys, started from a temp dir and stopped by its PID).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, symlinkSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { connectSsh } from '../../src/connector/ssh.js';
import { localConnector } from '../../src/connector/local.js';
import { openPool } from '../../src/connector/pool.js';
import { remoteSha256, sha256Hex } from '../../src/connector/sha256.js';
import { sftpWriteFile, type SFTPWrapper } from '../../src/connector/ssh-sftp.js';
import { HostKeyError, SshError } from '../../src/errors.js';
import type { Inventory, NodeSpec } from '../../src/model/inventory.js';
import { describeRoot } from '../helpers/root.js';

let dir: string;
let port: number;
let sshd: ChildProcess | undefined;
let agent: ChildProcess | undefined;
let createdRunSshd = false;
let hostPub: string; // "ssh-ed25519 AAAA…"
let hostFp: string; // from ssh-keygen -lf, not from our code
let otherPub: string;

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
const portOpen = (p: number) =>
  new Promise<boolean>((resolve) => {
    const c = tcpConnect(p, '127.0.0.1');
    c.once('connect', () => (c.destroy(), resolve(true)));
    c.once('error', () => resolve(false));
  });
const accepted = async () => ((await readFile(join(dir, 'sshd.log'), 'utf8')).match(/Accepted publickey/g) ?? []).length;

function inv(over: Partial<Inventory['ssh']> = {}): Inventory {
  return {
    file: join(dir, 'inventory.yaml'),
    ssh: {
      user: 'root', port, identityFile: join(dir, 'id_ed25519'), agent: false, knownHostsFile: join(dir, 'known_hosts'),
      concurrency: 10, connectTimeoutMs: 10_000, ...over,
    },
    nodes: [node()],
  } as unknown as Inventory;
}
const node = (over: Partial<NodeSpec> = {}): NodeSpec => ({ name: 'node1', host: '127.0.0.1', iface: 'eth0', publicIp: '127.0.0.1', ...over });
const knownLine = (pub: string) => `[127.0.0.1]:${port} ${pub}\n`;

describeRoot('SSH connector against a real sshd', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flanctl-sshd-'));
    port = await freePort();
    sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', '', '-f', join(dir, 'host_ed25519')]);
    sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', '', '-f', join(dir, 'other_host')]);
    sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', '', '-f', join(dir, 'id_ed25519')]);
    hostPub = (await readFile(join(dir, 'host_ed25519.pub'), 'utf8')).trim().split(' ').slice(0, 2).join(' ');
    otherPub = (await readFile(join(dir, 'other_host.pub'), 'utf8')).trim().split(' ').slice(0, 2).join(' ');
    hostFp = sh('ssh-keygen', ['-lf', join(dir, 'host_ed25519.pub')]).split(' ')[1];
    await writeFile(join(dir, 'authorized_keys'), await readFile(join(dir, 'id_ed25519.pub')), { mode: 0o600 });
    await writeFile(
      join(dir, 'sshd_config'),
      [
        `Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${join(dir, 'host_ed25519')}`, `PidFile ${join(dir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`, 'PermitRootLogin prohibit-password', 'PasswordAuthentication no',
        'KbdInteractiveAuthentication no', 'UsePAM no', 'StrictModes no', 'Subsystem sftp internal-sftp', 'LogLevel VERBOSE',
        'MaxStartups 100', 'AllowTcpForwarding yes', '',
      ].join('\n'),
    );
    if (!existsSync('/run/sshd')) {
      mkdirSync('/run/sshd', { mode: 0o755 });
      createdRunSshd = true;
    }
    const { openSync } = await import('node:fs');
    const log = openSync(join(dir, 'sshd.log'), 'a');
    sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', log, log] });
    for (let i = 0; i < 100 && !(await portOpen(port)); i++) await new Promise((r) => setTimeout(r, 50));
    if (!(await portOpen(port))) throw new Error(`sshd did not start: ${await readFile(join(dir, 'sshd.log'), 'utf8')}`);
  });

  afterAll(async () => {
    if (sshd?.pid && sshd.exitCode === null) sshd.kill('SIGTERM');
    if (agent?.pid && agent.exitCode === null) agent.kill('SIGTERM');
    if (createdRunSshd && existsSync('/run/sshd') && readdirSync('/run/sshd').length === 0) rmdirSync('/run/sshd');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('refuses an unknown host with its SHA256 fingerprint and the --trust-new-hosts hint', async () => {
    await rm(join(dir, 'known_hosts'), { force: true });
    const err = await connectSsh(inv(), node()).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(HostKeyError);
    expect((err as HostKeyError).message).toContain(hostFp);
    expect((err as HostKeyError).hint).toContain('--trust-new-hosts');
    expect(existsSync(join(dir, 'known_hosts'))).toBe(false);
  });

  it('--trust-new-hosts records the key; the next connect works without it', async () => {
    const c1 = await connectSsh(inv(), node(), { trustNewHosts: true });
    await c1.close();
    expect(await readFile(join(dir, 'known_hosts'), 'utf8')).toBe(knownLine(hostPub));
    const c2 = await connectSsh(inv(), node());
    expect((await c2.exec(['true'])).code).toBe(0);
    await c2.close();
  });

  it('connects with a hashed known_hosts entry (ssh-keygen -H)', async () => {
    await writeFile(join(dir, 'known_hosts'), knownLine(hostPub));
    sh('ssh-keygen', ['-q', '-H', '-f', join(dir, 'known_hosts')]);
    await rm(join(dir, 'known_hosts.old'), { force: true });
    expect(await readFile(join(dir, 'known_hosts'), 'utf8')).toMatch(/^\|1\|/);
    const c = await connectSsh(inv(), node());
    expect((await c.exec(['echo', 'hashed ok'])).stdout).toBe('hashed ok\n');
    await c.close();
  });

  it('always refuses a changed host key, even with --trust-new-hosts', async () => {
    await writeFile(join(dir, 'known_hosts'), knownLine(otherPub));
    const err = await connectSsh(inv(), node(), { trustNewHosts: true }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(HostKeyError);
    expect((err as Error).message).toMatch(/HOST KEY CHANGED/);
    expect((err as Error).message).toContain(hostFp);
    expect(await readFile(join(dir, 'known_hosts'), 'utf8')).toBe(knownLine(otherPub));
  });

  it('a pinned fingerprint on the node wins; a wrong pin is refused', async () => {
    await rm(join(dir, 'known_hosts'), { force: true });
    const c = await connectSsh(inv(), node({ hostKeyFingerprint: hostFp }));
    await c.close();
    const otherFp = sh('ssh-keygen', ['-lf', join(dir, 'other_host.pub')]).split(' ')[1];
    await expect(connectSsh(inv(), node({ hostKeyFingerprint: otherFp }))).rejects.toThrow(/pinned/);
  });

  it('names the node on connection failures', async () => {
    const closed = await freePort();
    await expect(connectSsh(inv({ port: closed }), node())).rejects.toSatisfy(
      (e: unknown) => e instanceof SshError && /node1.*connection refused/.test((e as Error).message),
    );
  });

  it("the pool's closeAll drops a connect still under way (a host that accepts and never speaks SSH) instead of waiting for its timeout", async () => {
    const held: import('node:net').Socket[] = [];
    const silent = createServer((sock) => held.push(sock));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const pool = openPool(inv({ port: (silent.address() as { port: number }).port, connectTimeoutMs: 600_000 }));
      const pending = pool.get('node1');
      pending.catch(() => {});
      while (!held.length) await new Promise((r) => setTimeout(r, 20)); // the TCP connection is up, the SSH handshake is not
      await pool.closeAll();
      await expect(pending).rejects.toSatisfy((e: unknown) => e instanceof SshError && /node1.*connect abandoned/.test((e as Error).message));
    } finally {
      for (const sock of held) sock.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  it('exec round-trips awkward argv exactly (quoting), with exit codes, stderr and stdin', async () => {
    await writeFile(join(dir, 'known_hosts'), knownLine(hostPub));
    const c = await connectSsh(inv(), node());
    try {
      const awkward = ['with space', "it's", '"dq"', '$HOME', '$(id)', '`id`', 'a;b', 'a&&b', '|', '>x', '*', '~', 'l1\nl2', '', '\\', '#c', '-n', 'ü'];
      const r = await c.exec(['printf', '%s\\0', ...awkward]);
      expect(r.code).toBe(0);
      expect(r.stdout.split('\0').slice(0, -1)).toEqual(awkward);
      expect(await c.exec(['sh', '-c', 'echo oops >&2; exit 7'])).toEqual({ code: 7, stdout: '', stderr: 'oops\n' });
      expect((await c.exec(['cat'], { stdin: 'from stdin\n' })).stdout).toBe('from stdin\n');
      expect((await c.exec(['sleep', '5'], { timeoutMs: 300 })).code).toBe(124);
    } finally {
      await c.close();
    }
  });

  it('writes and reads a binary file atomically with its mode, creating parent dirs', async () => {
    const c = await connectSsh(inv(), node());
    try {
      const content = randomBytes(100_000);
      const target = join(dir, 'remote', 'a', 'b', 'data.bin');
      await c.write(target, content, 0o640);
      expect((await stat(target)).mode & 0o777).toBe(0o640);
      expect((await c.read(target))!.equals(content)).toBe(true);
      expect(await c.read(join(dir, 'remote', 'missing'))).toBeUndefined();
      await c.write(target, 'replaced', 0o600);
      expect(await readFile(target, 'utf8')).toBe('replaced');
      expect((await stat(target)).mode & 0o777).toBe(0o600);
      expect(readdirSync(join(dir, 'remote', 'a', 'b'))).toEqual(['data.bin']); // no temp files left
    } finally {
      await c.close();
    }
  });

  it('SFTP temp files are created exclusively: a planted symlink is refused, its target untouched (issue 12)', async () => {
    const { NodeSSH } = await import('node-ssh');
    const client = new NodeSSH();
    await client.connect({ host: '127.0.0.1', port, username: 'root', privateKey: readFileSync(join(dir, 'id_ed25519'), 'utf8'), hostVerifier: () => true });
    try {
      const sftp = (await client.requestSFTP()) as unknown as SFTPWrapper;
      const victim = join(dir, 'victim');
      await writeFile(victim, 'keep\n', { mode: 0o644 });
      const planted = join(dir, 'planted-tmp');
      symlinkSync(victim, planted);
      await expect(sftpWriteFile(sftp, planted, Buffer.from('attacker-chosen path\n'), 0o600)).rejects.toThrow();
      expect(await readFile(victim, 'utf8')).toBe('keep\n');
      expect((await stat(victim)).mode & 0o777).toBe(0o644);
    } finally {
      client.dispose();
    }
  });

  it('uploads 40 MB and the remote sha256 matches', async () => {
    const c = await connectSsh(inv(), node());
    try {
      const big = randomBytes(40 * 1024 * 1024);
      const target = join(dir, 'remote', 'flanneld');
      const t0 = performance.now();
      await c.write(target, big, 0o755);
      console.log(`40 MB upload over SFTP: ${Math.round(performance.now() - t0)} ms`);
      expect(await remoteSha256(c, target)).toBe(sha256Hex(big));
      expect((await stat(target)).mode & 0o777).toBe(0o755);
    } finally {
      await c.close();
    }
  });

  it('the pool reuses one connection per host for every exec/read/write', async () => {
    const before = await accepted();
    const pool = openPool(inv({ concurrency: 10 }));
    try {
      const [a, b] = await Promise.all([pool.get('node1'), pool.get('node1')]);
      expect(a).toBe(b);
      for (let i = 0; i < 3; i++) {
        await a.exec(['true']);
        await a.write(join(dir, 'remote', `f${i}`), `content ${i}`, 0o644);
        expect((await a.read(join(dir, 'remote', `f${i}`)))!.toString()).toBe(`content ${i}`);
      }
      await Promise.all(Array.from({ length: 10 }, (_, i) => a.exec(['echo', String(i)]))); // > MaxSessions, same connection
      expect(await pool.get('node1')).toBe(a);
      await expect(pool.get('nope')).rejects.toThrow(/no node named/);
    } finally {
      await pool.closeAll();
    }
    await new Promise((r) => setTimeout(r, 200)); // sshd flushes its log line
    expect((await accepted()) - before).toBe(1);
  });

  it('connects through a jump host (forwardOut)', async () => {
    const before = await accepted();
    const c = await connectSsh({ ...inv(), ssh: { ...inv().ssh, jumpHost: { host: '127.0.0.1', port } } } as Inventory, node());
    try {
      expect((await c.exec(['echo', 'via jump'])).stdout).toBe('via jump\n');
    } finally {
      await c.close();
    }
    await new Promise((r) => setTimeout(r, 200));
    expect((await accepted()) - before).toBe(2); // the jump host and the node
  });

  it('authenticates with an agent (SSH_AUTH_SOCK)', async () => {
    const sock = join(dir, 'agent.sock');
    agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 20));
    execFileSync('ssh-add', ['-q', join(dir, 'id_ed25519')], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
    const saved = process.env.SSH_AUTH_SOCK;
    process.env.SSH_AUTH_SOCK = sock;
    try {
      const c = await connectSsh(inv({ identityFile: undefined, agent: true }), node());
      expect((await c.exec(['echo', 'agent'])).stdout).toBe('agent\n');
      await c.close();
    } finally {
      if (saved === undefined) delete process.env.SSH_AUTH_SOCK;
      else process.env.SSH_AUTH_SOCK = saved;
      agent.kill('SIGTERM');
    }
  });

  it('localConnector with an argv prefix reads and writes through it (temp file + mv)', async () => {
    const c = localConnector({ name: 'local', prefix: ['env'] });
    const target = join(dir, 'local', 'x', 'file');
    await c.write(target, Buffer.from([0, 255, 10]), 0o600);
    expect((await stat(target)).mode & 0o777).toBe(0o600);
    expect((await c.read(target))!.equals(Buffer.from([0, 255, 10]))).toBe(true);
    expect(await c.read(join(dir, 'local', 'missing'))).toBeUndefined();
    const r = await c.exec(['printf', '%s|', 'a b', '$x']);
    expect(r.stdout).toBe('a b|$x|');
  });
});
