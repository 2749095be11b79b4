/**
 * `flanctl lab up --init systemd`: nodes that boot a real systemd with systemd-nspawn. Boot, SSH with
 * a distinct host key per node, the reboot loop (nspawn exit 133), and a teardown that leaves no
 * process, mount, cgroup, bridge or netns. Root; must run under CI=true.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { labDown, labExec, labStatus, labUp, type LabState } from '../../src/lab/lab.js';
import { cgroupRoots } from '../../src/lab/nspawn.js';
import { loadInventory } from '../../src/model/inventory.js';
import { TEST_ROOTFS } from '../helpers/lab.js';
import { describeRoot } from '../helpers/root.js';

function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(argv[0], argv.slice(1), { encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** Everything of a systemd lab still on the machine. */
function leftovers(state: LabState): string[] {
  const k = state.index ?? state.lastIndex;
  const out: string[] = [];
  const netns = existsSync('/run/netns') ? readdirSync('/run/netns') : [];
  out.push(...netns.filter((n) => n.startsWith(`flanlab-${k}-`)).map((n) => `netns ${n}`));
  out.push(...readdirSync('/sys/class/net').filter((l) => l === `flanlab${k}` || l.startsWith(`flanlab${k}n`)).map((l) => `link ${l}`));
  // The overlays live in the launchers' private mount namespaces: look in every process's mount table.
  for (const p of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      if (readFileSync(`/proc/${p}/mountinfo`, 'utf8').includes(`${state.dir}/nodes/`)) out.push(`mount seen by process ${p}`);
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(state.dir) && Number(p) !== process.pid) out.push(`process ${p}: ${cmd}`);
      if (readFileSync(`/proc/${p}/cgroup`, 'utf8').includes(`/flanlab-${k}-node`)) out.push(`process ${p} in a node cgroup`);
    } catch { /* gone */ }
  }
  for (const root of cgroupRoots()) out.push(...readdirSync(root).filter((d) => d.startsWith(`flanlab-${k}-`)).map((d) => `cgroup ${root}/${d}`));
  if (existsSync('/run/systemd/nspawn/propagate')) out.push(...readdirSync('/run/systemd/nspawn/propagate').filter((d) => d.startsWith(`flanlab-${k}-`)).map((d) => `nspawn ${d}`));
  return out;
}

describeRoot('flanctl lab --init systemd (2 nodes)', () => {
  let dir: string;
  let state: LabState;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flanctl-lab-systemd-'));
    const t0 = Date.now();
    state = await labUp({ dir, nodes: 2, init: 'systemd', rootfs: TEST_ROOTFS });
    console.log(`lab up --init systemd, 2 nodes: ${Date.now() - t0} ms (lab index ${state.index})`);
  }, 600_000);
  afterAll(async () => {
    if (dir) await labDown({ dir, purge: true });
  }, 120_000);

  it('boots systemd as PID 1 in every node; status shows the init and is-system-running', async () => {
    const st = await labStatus(dir);
    expect(st.healthy).toBe(true);
    expect(st.nodes.map((n) => [n.name, n.init, n.system, n.sshd])).toEqual([['node1', 'systemd', 'running', true], ['node2', 'systemd', 'running', true]]);
    for (const n of state.nodes) {
      const r = await labExec(dir, n.name, ['sh', '-c', 'cat /proc/1/comm; hostname; cat /etc/machine-id; ip -4 -o addr show dev eth0; systemctl is-active ssh']);
      const [comm, host, machineId, addr, ssh] = r.stdout.trim().split('\n');
      expect([comm, host, ssh]).toEqual(['systemd', n.name, 'active']);
      expect(machineId).toMatch(/^[0-9a-f]{32}$/);
      expect(addr).toContain(`inet ${n.ip}/24`);
    }
    const ids = await Promise.all(state.nodes.map(async (n) => (await labExec(dir, n.name, ['cat', '/etc/machine-id'])).stdout.trim()));
    expect(new Set(ids).size).toBe(2);
    const inv = await loadInventory(join(dir, 'inventory.yaml'));
    expect(inv.flannel.service).toBe('systemd');
  });

  it('reaches every node over SSH with strict host-key checking; each node has its own host key', async () => {
    const inv = await loadInventory(join(dir, 'inventory.yaml'));
    const keys: string[] = [];
    for (const node of inv.nodes) {
      const r = await run(['ssh', '-i', inv.ssh.identityFile as string, '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${inv.ssh.knownHostsFile}`,
        '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', '-o', 'GlobalKnownHostsFile=/dev/null', `root@${node.host}`, 'hostname; cat /etc/ssh/ssh_host_ed25519_key.pub; ls /etc/ssh | grep -c host_.*_key$']);
      expect(r.code, r.stderr).toBe(0);
      const [host, pub, count] = r.stdout.trim().split('\n');
      expect(host).toBe(node.name);
      expect(count).toBe('1'); // the rootfs's baked keys are gone: only the node's own
      keys.push(pub.split(' ').slice(0, 2).join(' '));
    }
    expect(new Set(keys).size).toBe(inv.nodes.length);
    const known = readFileSync(inv.ssh.knownHostsFile as string, 'utf8');
    for (const k of keys) expect(known).toContain(k);
  });

  it('systemctl reboot in a node: the launcher (same process) boots it again, network state reset like a reboot', async () => {
    const n = state.nodes[0];
    const before = (await labExec(dir, n.name, ['sh', '-c', 'cat /proc/sys/kernel/random/boot_id; ip link add flanlab-x type bridge; iptables -w -N FLANLAB-X; echo ok'])).stdout.trim().split('\n');
    expect(before[1]).toBe('ok');
    const launcher = () => (JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as LabState).nodes[0].launcher;
    const launcherBefore = launcher();
    expect(launcherBefore?.pid).toBeGreaterThan(1);
    await labExec(dir, n.name, ['systemctl', 'reboot']).catch(() => undefined);
    let after = '';
    for (let i = 0; i < 180 && !after; i++) {
      await new Promise((r) => setTimeout(r, 500));
      const r = await labExec(dir, n.name, ['sh', '-c', 'cat /proc/sys/kernel/random/boot_id; systemctl is-system-running']).catch(() => undefined);
      const [id, sys] = r?.stdout.trim().split('\n') ?? [];
      if (id && id !== before[0] && sys === 'running') after = id;
    }
    expect(after).not.toBe('');
    expect(launcher()).toEqual(launcherBefore);
    expect(existsSync(`/proc/${launcherBefore!.pid}`)).toBe(true);
    const st = await labStatus(dir);
    expect(st.nodes[0]).toMatchObject({ running: true, system: 'running', sshd: true });
    expect(readFileSync(join(dir, 'nodes', n.name, 'init.log'), 'utf8')).toMatch(/nspawn exit 133\): booting it again/);
    const net = await labExec(dir, n.name, ['sh', '-c', 'ip -br link; iptables -w -S | grep -c FLANLAB-X; ip -4 -o addr show dev eth0']);
    expect(net.stdout).not.toContain('flanlab-x');
    expect(net.stdout).toMatch(/^0$/m);
    expect(net.stdout).toContain(`inet ${n.ip}/24`);
  }, 120_000);

  it('lab down leaves no process, mount, cgroup, bridge or netns; the shared rootfs stays', async () => {
    const s = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as LabState;
    expect(leftovers(s).some((l) => l.startsWith('cgroup'))).toBe(true); // the check sees a live lab
    await labDown({ dir });
    expect(leftovers(s)).toEqual([]);
    await labDown({ dir }); // twice is fine
    expect(existsSync(join(TEST_ROOTFS, 'usr/lib/systemd/systemd'))).toBe(true);
  }, 120_000);
});
