/**
 * The lab itself (issue 3): nodes reachable over SSH with strict host-key checking, private /etc per
 * node, etcd with client-cert auth over v3 and v2, idempotent up, and a down that leaves nothing behind
 * (checked against /run/netns, links, /proc/mounts and processes), also after a lab up that failed.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadInventory } from '../../src/model/inventory.js';
import { etcdGet } from '../../src/lab/etcd.js';
import { labDown, labExec, labStatus, labUp, type LabState } from '../../src/lab/lab.js';
import { readState } from '../../src/lab/state.js';
import { describeRoot } from '../helpers/root.js';

function run(argv: string[], env?: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(argv[0], argv.slice(1), { encoding: 'utf8', timeout: 30_000, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** Everything of a lab still on the machine: namespaces, links, mounts under its dir, its live processes. */
function leftovers(state: LabState): string[] {
  const k = state.index ?? state.lastIndex;
  const out: string[] = [];
  const netns = existsSync('/run/netns') ? readdirSync('/run/netns') : [];
  out.push(...netns.filter((n) => n.startsWith(`flanlab-${k}-`)).map((n) => `netns ${n}`));
  out.push(...readdirSync('/sys/class/net').filter((l) => l === `flanlab${k}` || l.startsWith(`flanlab${k}n`)).map((l) => `link ${l}`));
  out.push(...readFileSync('/proc/mounts', 'utf8').split('\n').filter((l) => l.split(' ')[1]?.startsWith(state.dir)).map((l) => `mount ${l}`));
  for (const p of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(state.dir) && Number(p) !== process.pid) out.push(`process ${p}: ${cmd}`);
    } catch { /* gone */ }
  }
  return out;
}

const recordedPids = (s: LabState) => [s.etcd?.pid?.pid, ...s.nodes.flatMap((n) => [n.init?.pid, n.unshare?.pid])].filter((p): p is number => !!p);
const pidAlive = (pid: number) => existsSync(`/proc/${pid}`) && !/^\S+ \(.*\) [ZX]/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));

describeRoot('flanctl lab (3 nodes)', () => {
  let dir: string;
  let state: LabState;
  let upMs = 0;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flanctl-lab-e2e-'));
    const t0 = Date.now();
    state = await labUp({ dir, nodes: 3 });
    upMs = Date.now() - t0;
    console.log(`lab up, 3 nodes: ${upMs} ms (lab index ${state.index})`);
  });

  afterAll(async () => {
    if (dir) await labDown({ dir, purge: true });
  });

  it('writes an inventory flanctl loads, with the lab CA and a known_hosts line per node', async () => {
    const inv = await loadInventory(join(dir, 'inventory.yaml'));
    expect(inv.nodes.map((n) => [n.name, n.host, n.iface])).toEqual(state.nodes.map((n) => [n.name, n.ip, 'eth0']));
    expect(inv.etcd.endpoints).toEqual([`https://10.77.${state.index}.1:2379`]);
    expect(inv.flannel.service).toBe('supervisord');
    expect(existsSync(join(inv.pki.dir, 'ca.pem')) && existsSync(join(inv.pki.dir, 'ca-key.pem'))).toBe(true);
    const known = readFileSync(inv.ssh.knownHostsFile, 'utf8').trim().split('\n');
    expect(known.map((l) => l.split(' ')[0])).toEqual(state.nodes.map((n) => n.ip));
  });

  it('reaches every node over SSH with the lab key and strict host-key checking; hostname answers', async () => {
    const inv = await loadInventory(join(dir, 'inventory.yaml'));
    for (const node of inv.nodes) {
      const r = await run(['ssh', '-i', inv.ssh.identityFile as string, '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${inv.ssh.knownHostsFile}`,
        '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', '-o', 'GlobalKnownHostsFile=/dev/null', `root@${node.host}`, 'hostname']);
      expect(r.stderr).not.toMatch(/REMOTE HOST IDENTIFICATION|Host key verification failed/);
      expect({ code: r.code, out: r.stdout.trim() }).toEqual({ code: 0, out: node.name });
    }
  });

  it('refuses SSH when the known_hosts entry is for another key (so the check above is real)', async () => {
    const lines = readFileSync(join(dir, 'ssh/known_hosts'), 'utf8').trim().split('\n');
    const swapped = join(dir, 'ssh/known_hosts.swapped');
    // node1's address with node2's key
    const fs = await import('node:fs');
    fs.writeFileSync(swapped, `${lines[0].split(' ')[0]} ${lines[1].split(' ').slice(1).join(' ')}\n`);
    const r = await run(['ssh', '-i', join(dir, 'ssh/id_ed25519'), '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${swapped}`,
      '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', '-o', 'GlobalKnownHostsFile=/dev/null', `root@${state.nodes[0].ip}`, 'hostname']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
  });

  it('keeps /etc private per node: a file in node1 conf.d is invisible on node2 and the host', async () => {
    const file = `/etc/supervisor/conf.d/flanlab-test-${state.index}.conf`;
    const w = await labExec(dir, 'node1', ['sh', '-c', `echo '; test' > ${file} && cat ${file}`]);
    expect(w).toMatchObject({ code: 0, stdout: '; test\n' });
    expect((await labExec(dir, 'node1', ['test', '-e', file])).code).toBe(0);
    expect((await labExec(dir, 'node2', ['test', '-e', file])).code).toBe(1);
    expect(existsSync(file)).toBe(false);
  });

  it('gives each node its own hostname, pid table, eth0 address and fresh /run and /tmp', async () => {
    for (const node of state.nodes) {
      const r = await labExec(dir, node.name, ['sh', '-c', 'hostname; ip -4 -o addr show dev eth0; cat /proc/1/cmdline | tr "\\0" " "; echo; ls -A /tmp; test -e /run/netns && echo has-netns || echo no-netns']);
      expect(r.code).toBe(0);
      const [host, addr, init, ...rest] = r.stdout.trim().split('\n');
      expect(host).toBe(node.name);
      expect(addr).toContain(`inet ${node.ip}/24`);
      expect(init).toContain('node-init.sh');
      expect(rest).toEqual(['no-netns']);
    }
  });

  it('passes the exit code of a command run with lab exec', async () => {
    expect((await labExec(dir, 'node3', ['sh', '-c', 'exit 7'])).code).toBe(7);
  });

  it('etcd accepts the lab client cert and refuses a client without one, over v3 and v2', async () => {
    const endpoint = state.etcd?.endpoint as string;
    const ca = join(dir, 'pki/ca.pem');
    const cert = join(dir, 'etcd/tls/client.pem');
    const key = join(dir, 'etcd/tls/client-key.pem');
    const v3 = ['etcdctl', `--endpoints=${endpoint}`, `--cacert=${ca}`, '--dial-timeout=3s', '--command-timeout=5s'];
    const env3 = { ETCDCTL_API: '3' };
    expect(await run([...v3, `--cert=${cert}`, `--key=${key}`, 'put', '/flanlab-test/v3', 'yes'], env3)).toMatchObject({ code: 0 });
    expect((await run([...v3, `--cert=${cert}`, `--key=${key}`, 'get', '--print-value-only', '/flanlab-test/v3'], env3)).stdout.trim()).toBe('yes');
    expect((await run([...v3, 'get', '/flanlab-test/v3'], env3)).code).not.toBe(0);

    const v2url = `${endpoint}/v2/keys/flanlab-test/v2`;
    const put = await run(['curl', '-sS', '--cacert', ca, '--cert', cert, '--key', key, '-X', 'PUT', v2url, '-d', 'value=yes']);
    expect(JSON.parse(put.stdout)).toMatchObject({ action: 'set', node: { value: 'yes' } });
    expect((await run(['curl', '-sS', '--max-time', '5', '--cacert', ca, v2url])).code).not.toBe(0);

    // node https: v2 read with the cert works, without it the TLS handshake is refused
    const withCert = await etcdGet(endpoint, '/v2/keys/flanlab-test/v2', { ca, cert, key });
    expect(withCert.status).toBe(200);
    expect(JSON.parse(withCert.body ?? '{}').node.value).toBe('yes');
    const without = await etcdGet(endpoint, '/v2/keys/flanlab-test/v2', { ca });
    expect(without.status).toBeUndefined();
    expect(without.error).toBeTruthy();
  });

  it('etcd is reachable from inside a node over the bridge (where flanneld will run)', async () => {
    const files = { 'ca.pem': 'pki/ca.pem', 'c.pem': 'etcd/tls/client.pem', 'c-key.pem': 'etcd/tls/client-key.pem' };
    for (const [name, src] of Object.entries(files)) {
      expect((await labExec(dir, 'node2', ['sh', '-c', `mkdir -p /root/t && cat > /root/t/${name}`], { input: readFileSync(join(dir, src), 'utf8') })).code).toBe(0);
    }
    const r = await labExec(dir, 'node2', ['curl', '-sS', '--max-time', '10', '--cacert', '/root/t/ca.pem', '--cert', '/root/t/c.pem', '--key', '/root/t/c-key.pem', `${state.etcd?.endpoint}/health`]);
    expect(r.stdout).toMatch(/"health":\s*"true"/);
  });

  it('reports status, and a second lab up keeps the running nodes', async () => {
    const st = await labStatus(dir);
    expect(st.healthy).toBe(true);
    expect(st.nodes.map((n) => [n.name, n.running, n.sshd, n.supervisord])).toEqual(state.nodes.map((n) => [n.name, true, true, true]));
    const before = state.nodes.map((n) => n.init?.pid);
    const again = await labUp({ dir, nodes: 3 });
    expect(again.nodes.map((n) => n.init?.pid)).toEqual(before);
    expect(again.etcd?.pid).toEqual(state.etcd?.pid);
    expect(again.index).toBe(state.index);
  });

  it('lab up starts sshd again in a node where it was stopped', async () => {
    expect((await labExec(dir, 'node3', ['sh', '-c', 'kill $(cat /run/sshd.pid)'])).code).toBe(0);
    await new Promise((r) => setTimeout(r, 300));
    expect((await labStatus(dir)).nodes[2].sshd).toBe(false);
    await labUp({ dir, nodes: 3 });
    expect((await labStatus(dir)).nodes[2].sshd).toBe(true);
  });

  it('lab up starts a node whose init died again, with the same host key; --nodes 2 removes node3', async () => {
    const before = readState(dir) as LabState;
    const node2 = before.nodes[1];
    process.kill(node2.init?.pid as number, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
    expect((await labStatus(dir)).nodes[1].running).toBe(false);
    const knownBefore = readFileSync(join(dir, 'ssh/known_hosts'), 'utf8');
    const after = await labUp({ dir, nodes: 2 });
    expect(after.nodes.map((n) => n.name)).toEqual(['node1', 'node2']);
    expect(after.nodes[0].init?.pid).toBe(before.nodes[0].init?.pid);
    expect(after.nodes[1].init?.pid).not.toBe(node2.init?.pid);
    expect(readFileSync(join(dir, 'ssh/known_hosts'), 'utf8')).toBe(knownBefore.split('\n').slice(0, 2).join('\n') + '\n');
    expect(existsSync(`/run/netns/${before.nodes[2].netns}`)).toBe(false);
    expect(existsSync(`/sys/class/net/${before.nodes[2].veth}`)).toBe(false);
    expect(pidAlive(before.nodes[2].init?.pid as number)).toBe(false);
    const r = await run(['ssh', '-i', join(dir, 'ssh/id_ed25519'), '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${join(dir, 'ssh/known_hosts')}`,
      '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', '-o', 'GlobalKnownHostsFile=/dev/null', `root@${node2.ip}`, 'hostname']);
    expect({ code: r.code, out: r.stdout.trim() }).toEqual({ code: 0, out: 'node2' });
    await labUp({ dir, nodes: 3 }); // back to three for the down test
  });

  it('lab down removes every namespace, link, mount and process of the lab; twice is fine', async () => {
    const s = readState(dir) as LabState;
    expect(leftovers(s).filter((l) => l.startsWith('netns'))).toHaveLength(3); // the check sees a live lab
    await labDown({ dir });
    expect(leftovers(s)).toEqual([]);
    expect(recordedPids(s).filter(pidAlive)).toEqual([]);
    await labDown({ dir });
    await labDown({ dir, purge: true });
    expect(existsSync(dir)).toBe(false);
  });
});

describeRoot('flanctl lab: cleanup after a failed lab up', () => {
  it('a lab up that fails half-way (etcd cannot start) is removed completely by lab down', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flanctl-lab-fail-'));
    try {
      mkdirSync(join(dir, 'etcd', 'etcd.log'), { recursive: true }); // etcd's log file path is a directory: etcd cannot start
      await expect(labUp({ dir, nodes: 2 })).rejects.toThrow(/etcd/);
      const s = readState(dir) as LabState;
      expect(s.nodes).toHaveLength(2);
      expect(leftovers(s).length).toBeGreaterThan(0);
      await labDown({ dir, purge: true });
      expect(leftovers(s)).toEqual([]);
      expect(recordedPids(s).filter(pidAlive)).toEqual([]);
    } finally {
      if (existsSync(dir)) await labDown({ dir, purge: true }).catch(() => rmSync(dir, { recursive: true, force: true }));
    }
  });
});

describeRoot('flanctl lab: 10 nodes (timing, not asserted)', () => {
  it('brings 10 nodes up and down', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flanctl-lab-10-'));
    try {
      const t0 = Date.now();
      const s = await labUp({ dir, nodes: 10 });
      const up = Date.now() - t0;
      const st = await labStatus(dir);
      expect(st.nodes.filter((n) => n.running && n.sshd && n.supervisord)).toHaveLength(10);
      const t1 = Date.now();
      await labDown({ dir, purge: true });
      console.log(`lab up, 10 nodes: ${up} ms; lab down: ${Date.now() - t1} ms (lab index ${s.index})`);
      expect(leftovers(s)).toEqual([]);
    } finally {
      if (existsSync(dir)) await labDown({ dir, purge: true });
    }
  });
});
