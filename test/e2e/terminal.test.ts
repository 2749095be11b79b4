/**
 * Large clusters on a terminal (issue #15): `flanctl bootstrap` on a 6-node lab, run by the built
 * CLI inside a real pseudo-terminal (util-linux `script`) of 12 rows × 100 columns, where listr2's
 * full view (a subtask per step) cannot fit. What the terminal shows is replayed with screenOf().
 * Root; must run under CI=true (the CLI itself runs without CI, so it sees a terminal).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadInventory } from '../../src/model/inventory.js';
import { repoRoot } from '../helpers/cli.js';
import { startLab, type TestLab } from '../helpers/lab.js';
import { describeRoot } from '../helpers/root.js';
import { screenOf } from '../helpers/screen.js';

const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The CLI on a rows × cols pty; the transcript is everything the terminal received. */
function inPty(args: string[], rows: number, cols: number): Promise<{ code: number; transcript: string }> {
  const cmd = `stty rows ${rows} cols ${cols} && exec ${shq(process.execPath)} ${shq(join(repoRoot, 'bin/run.js'))} ${args.map(shq).join(' ')}`;
  const env: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm', NO_COLOR: '1' };
  delete env.CI; // CI=true means "no terminal" to flanctl: plain lines
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qefc', cmd, '/dev/null'], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let transcript = '';
    child.stdout.on('data', (d: Buffer) => (transcript += d.toString()));
    child.stderr.on('data', (d: Buffer) => (transcript += d.toString()));
    const timer = setTimeout(() => child.kill('SIGTERM'), 170_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, transcript });
    });
  });
}

describeRoot('bootstrap on a terminal smaller than the cluster (6 nodes, 12 rows)', () => {
  let lab: TestLab;

  beforeAll(async () => {
    if (!existsSync(join(repoRoot, 'dist/commands/bootstrap.js'))) throw new Error('dist/ is missing: run `npm run build` first');
    lab = await startLab({ nodes: 6 });
  });
  afterAll(async () => {
    await lab?.down();
  });

  it('one line per node and a summary bar live; at the end every node, the summary line and the failure in full', async () => {
    // node4's install dir is read-only: its flanneld upload fails, the others carry on.
    const bin = (await loadInventory(lab.inventoryPath)).flannel.installDir;
    const ro = await lab.exec('node4', ['sh', '-c', `mkdir -p ${bin} && mount --bind ${bin} ${bin} && mount -o remount,bind,ro ${bin}`]);
    expect(ro.code, ro.stderr).toBe(0);

    const r = await inPty(['bootstrap', '-i', lab.inventoryPath, '--no-verify'], 12, 100);
    const screen = screenOf(r.transcript);
    const show = `exit ${r.code}\n${screen.join('\n')}`;
    expect(r.code, show).toBe(1);

    // Live: frames of one line per target with "step k/N <title>", each under the summary bar.
    expect(r.transcript, show).toMatch(/❯ node\d +step \d+\/\d+ \S/);
    expect(r.transcript, show).toMatch(/done \d\/7 · failed \d · running \d · waiting \d · \d+ changes? · \d+\.\d s/);
    // No listr2 full view: no indented subtask lines (its "connect" subtask) anywhere.
    expect(r.transcript, show).not.toMatch(/^\s+\S+ connect\r?$/m);

    // Final: every target once above the bar (bootstrap's later peer check is a second, smaller
    // view), then the summary line and the command's FAILED details in full.
    const bar = screen.findIndex((l) => l.startsWith('done '));
    expect(screen[bar], show).toMatch(/^done 6\/7 · failed 1 · running 0 · waiting 0 · \d+ changes · \d+\.\d s$/);
    const rows = screen.slice(0, bar).filter((l) => /^[✔✖] (node\d|etcd) /.test(l));
    expect(rows.map((l) => l.split(/\s+/)[1]), show).toEqual(['etcd', 'node1', 'node2', 'node3', 'node4', 'node5', 'node6']);
    for (const n of ['node1', 'node2', 'node3', 'node5', 'node6']) expect(rows, show).toContainEqual(expect.stringMatching(new RegExp(`^✔ ${n} +(\\d+)/\\1 · \\d+ changes? · \\d+\\.\\d s$`)));
    expect(rows, show).toContainEqual(expect.stringMatching(/^✖ node4 +FAILED at \d+\/\d+ flanneld binary: node4 .*could not write/));
    expect(screen, show).toContainEqual(expect.stringMatching(/^bootstrap: 6 hosts \+ etcd, \d+ changes, (\d+ restarts?, )?1 failed \(node4\) in \d+\.\d s$/));
    expect(screen, show).toContainEqual(expect.stringMatching(new RegExp(`^FAILED node4: flanneld binary: .*could not write ${bin}/flanneld`)));
  });
});
