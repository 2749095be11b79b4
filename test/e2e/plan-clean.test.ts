/**
 * The invariant of issue 10 (#7): after every successful command that changes the cluster, `plan
 * --detailed-exitcode` exits 0. Here: bootstrap, a switch-backend that rolls back by itself, and a
 * switch-backend that succeeds (vxlan → host-gw: /etc/modules-load.d must follow the backend).
 * Other commands (node add/remove, certs rotate, upgrade) add their own cases. Root; under CI=true.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startLab, type TestLab } from '../helpers/lab.js';
import { describeRoot } from '../helpers/root.js';
import { cli, showCli } from '../helpers/cli.js';

const DROP = ['-i', 'eth0', '-s', '10.244.0.0/16', '-j', 'DROP'];

describeRoot('plan is clean after every successful command (2-node lab)', () => {
  let lab: TestLab;
  let inv: string;
  beforeAll(async () => {
    lab = await startLab({ nodes: 2 });
    inv = lab.inventoryPath;
  });
  afterAll(() => lab?.down());

  const expectPlanClean = async (after: string) => {
    const r = await cli(['plan', '-i', inv, '--detailed-exitcode']);
    expect(r.code, `plan after ${after}: ${showCli(r)}`).toBe(0);
  };
  const modulesFile = async (node: string) => (await lab.exec(node, ['cat', '/etc/modules-load.d/flanctl.conf'])).stdout;

  it('after bootstrap', async () => {
    const r = await cli(['bootstrap', '-i', inv]);
    expect(r.code, showCli(r)).toBe(0);
    await expectPlanClean('bootstrap');
  });

  it('after a switch-backend that rolled back (the rollback restores what bootstrap owns)', async () => {
    const add = await lab.exec('node2', ['iptables', '-I', 'INPUT', ...DROP]);
    expect(add.code, add.stderr).toBe(0);
    try {
      const r = await cli(['switch-backend', 'host-gw', '-i', inv, '--yes', '--json']);
      expect(r.code, showCli(r)).toBe(1);
      expect(r.json?.outcome).toBe('rolled-back');
    } finally {
      await lab.exec('node2', ['iptables', '-D', 'INPUT', ...DROP]);
    }
    expect(await modulesFile('node1')).toMatch(/^vxlan$/m);
    await expectPlanClean('a rolled-back switch-backend');
  });

  it('after switch-backend vxlan → host-gw (modules-load.d no longer lists vxlan)', async () => {
    const r = await cli(['switch-backend', 'host-gw', '-i', inv, '--yes']);
    expect(r.code, showCli(r)).toBe(0);
    for (const n of lab.nodes) expect(await modulesFile(n.name), n.name).not.toMatch(/^vxlan$/m);
    await expectPlanClean('switch-backend');
  });
});
