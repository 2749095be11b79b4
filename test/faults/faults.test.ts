/**
 * The fault suite (issue 10) on one 3-node lab, through the real CLI: etcd down, a changed host key
 * and a full disk stop everything in preflight; sshd killed on one node and another node frozen in
 * the same run (the third converges); SIGINT/SIGTERM at several points; SIGKILL then rerun (the
 * litter is swept, the dead holder's lock taken over); two concurrent runs. Root; under CI=true.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openKv } from '../../src/kv/index.js';
import { lockKey } from '../../src/kv/lock.js';
import { readState } from '../../src/lab/state.js';
import { restartNodeServices } from '../../src/lab/node.js';
import { signalIfOurs } from '../../src/lab/proc.js';
import { loadInventory, type Inventory } from '../../src/model/inventory.js';
import { litterArgv, managedDirs } from '../../src/steps/litter.js';
import { remotePaths } from '../../src/model/templates.js';
import { cli, repoRoot, showCli, type CliResult } from '../helpers/cli.js';
import { startLab, type TestLab } from '../helpers/lab.js';
import { describeRoot } from '../helpers/root.js';

/** Run the CLI; when a stdout line matches `when`, call `act` once (send a signal, freeze a node, …). */
const liveStderr = new WeakMap<Promise<unknown>, () => string>();
/** What a running cliDuring() has written to stderr so far. */
const readStderrOf = async (p: Promise<unknown>) => liveStderr.get(p)?.() ?? '';

function cliDuring(args: string[], when: RegExp | undefined, act: (pid: number) => Promise<void> | void): Promise<CliResult & { acted: boolean }> {
  let err = () => '';
  const p = new Promise<CliResult & { acted: boolean }>((resolve) => {
    const child = spawn(process.execPath, [join(repoRoot, 'bin/run.js'), ...args], { cwd: repoRoot, env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    let acted = false;
    const fire = () => {
      if (acted) return;
      acted = true;
      void act(child.pid!);
    };
    if (!when) fire();
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
      if (when && when.test(stdout)) fire();
    });
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    err = () => stderr;
    const timer = setTimeout(() => child.kill('SIGKILL'), 170_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal === 'SIGKILL' ? 137 : 1), stdout, stderr, acted });
    });
  });
  liveStderr.set(p, () => err());
  return p;
}

describeRoot('fault suite on a 3-node lab', () => {
  let lab: TestLab;
  let inv: Inventory;
  let invPath: string;

  beforeAll(async () => {
    lab = await startLab({ nodes: 3 });
    invPath = lab.inventoryPath;
    inv = await loadInventory(invPath);
  });
  afterAll(async () => {
    // Whatever a failed case left stopped, let it go before the lab goes down.
    if (lab) for (const n of lab.nodes) await lab.exec(n.name, ['pkill', '-CONT', '-x', 'sshd']).catch(() => {});
    await lab?.down();
  });

  const nodeState = (name: string) => readState(lab.dir)!.nodes.find((n) => n.name === name)!;
  const exists = async (node: string, path: string) => (await lab.exec(node, ['test', '-e', path])).code === 0;
  const litter = async () => {
    const out: string[] = [];
    for (const n of lab.nodes) out.push(...(await lab.exec(n.name, litterArgv(managedDirs(inv)))).stdout.split('\n').filter(Boolean).map((f) => `${n.name}:${f}`));
    return out;
  };
  const lockHeld = async () => {
    const kv = await openKv(inv);
    try {
      return (await kv.get(lockKey(inv.etcd.prefix))) !== undefined;
    } finally {
      await kv.close();
    }
  };
  const running = async (node: string) => /RUNNING/.test((await lab.exec(node, ['supervisorctl', 'status', 'flanneld'])).stdout);
  const variant = (name: string, edit: (doc: ReturnType<typeof parseDocument>) => void) => {
    const doc = parseDocument(readFileSync(invPath, 'utf8'));
    edit(doc);
    const file = join(lab.dir, name);
    writeFileSync(file, doc.toString());
    return file;
  };
  const nothingInstalled = async () => {
    for (const n of lab.nodes) expect(await exists(n.name, inv.flannel.installDir), `${n.name}: ${inv.flannel.installDir}`).toBe(false);
  };

  it('etcd down: fails before any host change', async () => {
    const etcd = readState(lab.dir)!.etcd!.pid!;
    expect(signalIfOurs(etcd, 'SIGSTOP')).toBe(true);
    try {
      const r = await cli(['bootstrap', '-i', invPath]);
      expect(r.code, showCli(r)).toBe(1);
      expect(r.stderr).toMatch(/preflight found .*nothing was changed[\s\S]*etcd:[\s\S]*unreachable/);
    } finally {
      signalIfOurs(etcd, 'SIGCONT');
    }
    await nothingInstalled();
  });

  it('a changed host key is refused on that node, nothing changes anywhere, known_hosts untouched', async () => {
    const known = readFileSync(inv.ssh.knownHostsFile, 'utf8');
    const node2 = lab.nodes[1];
    const key1 = known.split('\n').find((l) => l.startsWith(`${lab.nodes[0].ip} `))!.split(' ').slice(1).join(' ');
    const tampered = join(lab.dir, 'known_hosts.tampered');
    const text = known.split('\n').map((l) => (l.startsWith(`${node2.ip} `) ? `${node2.ip} ${key1}` : l)).join('\n');
    writeFileSync(tampered, text);
    const file = variant('inventory-hostkey.yaml', (d) => d.setIn(['ssh', 'knownHostsFile'], tampered));
    const r = await cli(['bootstrap', '-i', file, '--trust-new-hosts']);
    expect(r.code, showCli(r)).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`${node2.name}:[\\s\\S]*host key`, 'i'));
    expect(readFileSync(tampered, 'utf8')).toBe(text);
    expect(readFileSync(inv.ssh.knownHostsFile, 'utf8')).toBe(known);
    await nothingInstalled();
  });

  it('a full disk on one node: preflight names the node, mount point, free and needed space; nothing changes', async () => {
    const m = await lab.exec('node3', ['mount', '-t', 'tmpfs', '-o', 'size=16k', 'flanctl-fault-full', '/opt']);
    expect(m.code, m.stderr).toBe(0);
    try {
      const r = await cli(['bootstrap', '-i', invPath]);
      expect(r.code, showCli(r)).toBe(1);
      expect(r.stderr).toMatch(/node3:\s*\n\s*- no space left on \/opt \(\d+ kB free, \d+(\.\d)? [kM]B needed\)/);
      expect(r.stderr).not.toMatch(/node1:|node2:/);
    } finally {
      await lab.exec('node3', ['umount', '/opt']);
    }
    await nothingInstalled();
  });

  it('sshd killed on node2 and node3 frozen mid-bootstrap: node1 converges, both are named, exit 1; the rerun converges', async () => {
    const r = await cliDuring(['bootstrap', '-i', invPath], /\[node\d\] (changed|ok) /, async () => {
      await lab.exec('node2', ['pkill', '-KILL', '-x', 'sshd']);
      await lab.exec('node3', ['pkill', '-STOP', '-x', 'sshd']);
    });
    try {
      expect(r.acted).toBe(true);
      expect(r.code, showCli(r)).toBe(1);
      expect(r.stderr).toMatch(/FAILED node2/);
      expect(r.stderr).toMatch(/node3: no answer for 15 s during "[^"]+" \(timed out\)/);
      expect(await running('node1')).toBe(true);
      expect(r.stderr).not.toMatch(/FAILED node1/);
    } finally {
      await lab.exec('node3', ['pkill', '-CONT', '-x', 'sshd']);
      await restartNodeServices(nodeState('node2'));
    }
    expect(await lockHeld()).toBe(false);
    const again = await cli(['bootstrap', '-i', invPath]);
    expect(again.code, showCli(again)).toBe(0);
    for (const n of lab.nodes) expect(await running(n.name), n.name).toBe(true);
  });

  it('SIGINT / SIGTERM at several points: exit 130 / 143, the partial report, no temp file, lock released; reruns converge, then 0 changes', async () => {
    const reset = await cli(['reset', '-i', invPath, '--yes']);
    expect(reset.code, showCli(reset)).toBe(0);
    for (const n of lab.nodes) expect(await exists(n.name, '/etc/modules-load.d/flanctl.conf'), n.name).toBe(false);
    // --json prints nothing until the end: interrupt once the first file landed on node1.
    const j = await cliDuring(['bootstrap', '-i', invPath, '--json'], undefined, async (pid) => {
      for (let i = 0; i < 600 && !(await exists('node1', `${inv.flannel.configDir}/ca.pem`)); i++) await new Promise((r) => setTimeout(r, 100));
      process.kill(pid, 'SIGINT');
    });
    expect(j.code, showCli(j)).toBe(130);
    const partial = JSON.parse(j.stdout);
    expect(partial).toMatchObject({ command: 'bootstrap', interrupted: 'SIGINT' });
    expect(partial.summary.changed).toBeGreaterThan(0);
    expect(partial.targets.flatMap((t: { steps: { status: string }[] }) => t.steps).some((s: { status: string }) => s.status === 'skipped')).toBe(true);
    expect(j.stderr).toMatch(/^interrupted: \d+ changes? applied/m);
    expect(await litter()).toEqual([]);
    // Each point gets work that prints its line: the run before may have got past it before its signal
    // landed (a rerun with nothing to do prints no step lines), so node1 is given the work first.
    const points: Array<[NodeJS.Signals, RegExp, number, () => Promise<unknown>]> = [
      ['SIGINT', /\[node\d\] (changed|ok) /, 130, async () => {}],
      ['SIGINT', /\[node\d\] (changed|ok)\s+flanneld binary/, 130, () => lab.exec('node1', ['rm', '-f', remotePaths(inv).flanneld])],
      ['SIGTERM', /\[node\d\] (changed|ok)\s+flanneld service/, 143, () => lab.exec('node1', ['supervisorctl', 'stop', 'flanneld'])],
    ];
    for (const [sig, when, code, prepare] of points) {
      await prepare();
      const r = await cliDuring(['bootstrap', '-i', invPath], when, (pid) => void process.kill(pid, sig));
      expect(r.acted, `${sig} at ${when}: the line never came\n${showCli(r)}`).toBe(true);
      if (r.code === 0) continue; // the run had nothing left to stop at this point
      expect(r.code, showCli(r)).toBe(code);
      expect(r.stderr).toMatch(/^interrupted: \d+ changes? applied, \d+ steps? not run on \d+ targets?;/m);
      expect(await litter()).toEqual([]);
      expect(await lockHeld()).toBe(false);
    }
    const json = await cliDuring(['bootstrap', '-i', invPath, '--json'], undefined, () => {});
    expect(json.code, showCli(json)).toBe(0);
    const second = await cli(['bootstrap', '-i', invPath, '--json']);
    expect(second.code, showCli(second)).toBe(0);
    expect(second.json.summary.changed).toBe(0);
  });

  it('SIGKILL then rerun: the dead holder\'s lock is taken over and the temp files it left are swept', async () => {
    const killed = await cliDuring(['bootstrap', '-i', invPath], /\[node\d\] ok /, (pid) => void process.kill(pid, 'SIGKILL'));
    expect(killed.code).toBe(137);
    // What a write cut by the kill leaves behind, planted after the kill: the killed run's own sweep
    // (its first step on every node) may already have run, and must not hide what the rerun does.
    const planted = ['/etc/flannel/.flanneld-key.pem.flanctl-0badc0de', `${inv.flannel.installDir}/.flanctl.Ab12Cd34`];
    for (const f of planted) expect((await lab.exec('node1', ['touch', f])).code).toBe(0);
    const r = await cli(['bootstrap', '-i', invPath, '--json']);
    expect(r.code, showCli(r)).toBe(0);
    const node1 = r.json.targets.find((t: { name: string }) => t.name === 'node1');
    expect(node1.steps.find((s: { id: string }) => s.id === 'litter:sweep')).toMatchObject({ status: 'changed', change: { summary: expect.stringMatching(/remove [2-9] temp file/) } });
    expect(await litter()).toEqual([]);
  });

  it('two concurrent runs: the second refuses at once naming the holder, a third waits with --wait-lock; plan is clean after', async () => {
    let refused: CliResult | undefined;
    let waited: (CliResult & { acted: boolean }) | undefined;
    // The first run is paused (SIGSTOP, our own child) while it holds the lock, well inside the lease TTL.
    const first = await cliDuring(['bootstrap', '-i', invPath], /\[node\d\] ok /, async (pid) => {
      process.kill(pid, 'SIGSTOP');
      try {
        refused = await cli(['bootstrap', '-i', invPath]);
        const third = cliDuring(['bootstrap', '-i', invPath, '--wait-lock', '2m'], undefined, () => {});
        // Let the first go on only once the third says it is waiting for the lock.
        for (let i = 0; i < 100 && !/waiting up to/.test(await readStderrOf(third)); i++) await new Promise((r) => setTimeout(r, 100));
        process.kill(pid, 'SIGCONT');
        waited = await third;
      } finally {
        try {
          process.kill(pid, 'SIGCONT');
        } catch {
          /* already exited */
        }
      }
    });
    while (!waited) await new Promise((r) => setTimeout(r, 200)); // the first may end before the third
    expect(first.code, showCli(first)).toBe(0);
    expect(refused!.code, showCli(refused!)).toBe(1);
    expect(refused!.stderr).toMatch(/another flanctl \(bootstrap by \S+@\S+, pid \d+, since \d\d:\d\d:\d\d UTC\) holds the cluster lock/);
    expect(waited!.code, showCli(waited!)).toBe(0);
    expect(waited!.stderr).toMatch(/holds the cluster lock; waiting up to \d+ s \(--wait-lock\)/);
    const plan = await cli(['plan', '-i', invPath, '--detailed-exitcode']);
    expect(plan.code, showCli(plan)).toBe(0);
  });
});
