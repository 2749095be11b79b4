/**
 * Issue 12 on the real machine, as root: the lab cannot be aimed at the host (a crafted state.json
 * neither kills an unrelated process, deletes an unrelated link, unmounts an unrelated tmpfs nor
 * writes elsewhere; a user's notes survive `lab up` / `lab down --purge`), a real lab still comes up
 * and goes away completely, and flanctl-iptables.sh under bash refuses a crafted subnet.env while
 * applying real iptables rules for a good one (in a network namespace of its own).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cli, showCli } from '../helpers/cli.js';
import { describeRoot } from '../helpers/root.js';
import { nodeNames } from '../../src/lab/names.js';
import { procId, type ProcId } from '../../src/lab/proc.js';
import { parseInventory, type Inventory } from '../../src/model/inventory.js';
import { renderIptablesScript } from '../../src/model/templates.js';

const run = (argv: string[]) => spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
const linkExists = (name: string) => existsSync(`/sys/class/net/${name}`);
const mounted = (p: string) => readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === p);

describeRoot('security: the lab cannot be aimed at the host', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'flanctl-sec-e2e-'));
  const victimLink = `flsec${process.pid % 100000}`; // a veth pair of its own (no dummy links on this kernel)
  const victimMount = join(tmp, 'victim-mnt');
  const victimDir = join(tmp, 'victim-dir');
  let victim: ProcId | undefined;

  beforeAll(async () => {
    const child = spawn('sleep', ['600'], { detached: true, stdio: 'ignore' });
    child.unref();
    victim = procId(child.pid as number);
    expect(run(['ip', 'link', 'add', victimLink, 'type', 'veth', 'peer', 'name', `${victimLink}p`]).status).toBe(0);
    mkdirSync(victimMount);
    expect(run(['mount', '-t', 'tmpfs', '-o', 'size=1m', 'flsec-victim', victimMount]).status).toBe(0);
    writeFileSync(join(victimMount, 'data'), 'precious\n');
    mkdirSync(victimDir);
    writeFileSync(join(victimDir, 'state.json'), 'the user\'s own state.json\n');
  });

  afterAll(() => {
    if (victim) {
      try {
        process.kill(victim.pid, 'SIGKILL');
      } catch { /* gone */ }
    }
    if (linkExists(victimLink)) run(['ip', 'link', 'del', victimLink]);
    if (mounted(victimMount)) run(['umount', victimMount]);
    rmSync(tmp, { recursive: true, force: true });
  });

  it('a crafted state.json makes lab down --purge refuse, touching nothing', async () => {
    const lab = join(tmp, 'lab');
    mkdirSync(lab, { mode: 0o755 });
    const node = nodeNames(200, 1);
    const state = {
      version: 1, dir: victimDir, index: 200, bridge: 'flanlab200', createdAt: 'x',
      mounts: [victimMount], nodes: [{ ...node, veth: victimLink, init: victim }],
      etcd: { endpoint: 'https://10.77.200.1:2379', dataDir: join(lab, 'etcd', 'data') },
    };
    writeFileSync(join(lab, 'state.json'), JSON.stringify(state));
    writeFileSync(join(lab, 'notes.txt'), 'mine\n');
    const r = await cli(['lab', 'down', '--purge', '--dir', lab]);
    expect(r.code, showCli(r)).toBe(2);
    expect(r.stderr).toMatch(/state\.json: mounts\[0\]: .* is not below the lab dir/);
    expect(procId(victim!.pid)).toEqual(victim);
    expect(linkExists(victimLink)).toBe(true);
    expect(mounted(victimMount)).toBe(true);
    expect(readFileSync(join(victimMount, 'data'), 'utf8')).toBe('precious\n');
    expect(readFileSync(join(victimDir, 'state.json'), 'utf8')).toBe('the user\'s own state.json\n');
    expect(readFileSync(join(lab, 'notes.txt'), 'utf8')).toBe('mine\n');

    // Each remaining field on its own is refused too (the mount was reported first).
    for (const [patch, msg] of [
      [{ mounts: [] }, /nodes\[0\]\.veth/],
      [{ mounts: [], nodes: [{ ...node, init: victim }] }, /nodes\[0\]\.init: PID \d+ is alive but is not this lab's process/],
    ] as const) {
      writeFileSync(join(lab, 'state.json'), JSON.stringify({ ...state, ...patch }));
      const again = await cli(['lab', 'down', '--dir', lab]);
      expect(again.code, showCli(again)).toBe(2);
      expect(again.stderr).toMatch(msg);
    }
    expect(procId(victim!.pid)).toEqual(victim);
    expect(linkExists(victimLink)).toBe(true);
  });

  it('lab up refuses a directory holding the user\'s notes, and a system directory', async () => {
    const notes = join(tmp, 'notes');
    mkdirSync(notes);
    writeFileSync(join(notes, 'todo.md'), 'mine\n');
    const r = await cli(['lab', 'up', '--nodes', '1', '--dir', notes]);
    expect(r.code, showCli(r)).toBe(2);
    expect(r.stderr).toMatch(/not a lab's \(todo\.md\)/);
    const sys = await cli(['lab', 'down', '--purge', '--dir', '/bin']);
    expect(sys.code, showCli(sys)).toBe(2);
    expect(sys.stderr).toMatch(/cannot be/);
    const home = await cli(['lab', 'down', '--purge', '--dir', notes]);
    expect(home.code, showCli(home)).toBe(2);
    expect(home.stderr).toMatch(/not a lab dir/);
    expect(readFileSync(join(notes, 'todo.md'), 'utf8')).toBe('mine\n');
  });

  it('a real lab still comes up and lab down --purge removes all of it', async () => {
    const dir = join(tmp, 'real');
    const up = await cli(['lab', 'up', '--nodes', '1', '--dir', dir, '--json']);
    try {
      expect(up.code, showCli(up)).toBe(0);
      const s = up.json;
      expect(s.nodes).toHaveLength(1);
    } finally {
      const down = await cli(['lab', 'down', '--purge', '--dir', dir]);
      expect(down.code, showCli(down)).toBe(0);
    }
    expect(existsSync(dir)).toBe(false);
  });
});

describeRoot('security: flanctl-iptables.sh under bash with a crafted subnet.env (own netns, real iptables)', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'flanctl-sec-ipt-e2e-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('refuses 10.244.5.PATH[$(cmd)]/24 without running cmd, applies a good lease', async () => {
    const base = (await parseInventory('network: { cidr: 10.244.0.0/16 }\netcd: { endpoints: ["https://10.77.0.1:2379"] }\nflannel: { tarball: f.tgz }\nnodes: [{ name: node1, host: 10.77.0.11 }]\n', '/x/inventory.yaml')).inventory;
    const inv: Inventory = { ...base, flannel: { ...base.flannel, subnetFile: join(tmp, 'subnet.env') } };
    const script = join(tmp, 'flanctl-iptables.sh');
    writeFileSync(script, renderIptablesScript(inv).replace(/^STATE_FILE=.*$/m, `STATE_FILE='${join(tmp, 'state')}'`));
    const marker = join(tmp, 'ran-as-root');
    const inNetns = (body: string) => run(['unshare', '--net', 'bash', '-c', body]);
    writeFileSync(join(tmp, 'subnet.env'), `FLANNEL_SUBNET=10.244.5.PATH[$(id>${marker})]/24\n`);
    const bad = inNetns(`bash ${script}; echo "rc=$?"; iptables -w -t nat -S POSTROUTING`);
    expect(bad.stdout).toMatch(/rc=1/);
    expect(bad.stderr).toMatch(/not an IPv4 CIDR/);
    expect(bad.stdout).not.toMatch(/flanctl/);
    expect(existsSync(marker)).toBe(false);
    writeFileSync(join(tmp, 'subnet.env'), 'FLANNEL_SUBNET=10.244.5.1/24\n');
    const good = inNetns(`bash ${script}; echo "rc=$?"; iptables -w -t nat -S POSTROUTING`);
    expect(good.stdout, good.stderr).toMatch(/rc=0/);
    expect(good.stdout).toMatch(/-A POSTROUTING -s 10\.244\.5\.0\/24 ! -d 10\.244\.0\.0\/16 ! -o docker0 -m comment --comment flanctl -j MASQUERADE/);
  });
});
