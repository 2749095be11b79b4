/**
 * verify --pods on the other emulated flanneld releases (issue 17 "each emulated release"; root, must
 * run under CI=true). pods.test.ts runs every case (negatives, CNI, SIGINT) on the stand-in's v0.20.2;
 * this file runs the positive pod checks on v0.11.0 over etcd v2 (iptables rules directly in the
 * built-in chains) and v0.22.3 over etcd v3 (FLANNEL-* chains), on one lean 3-node lab that
 * `lab up --release` switches between them:
 *   vxlan (tightened masquerade) → switch-backend host-gw → switch-backend vxlan --direct-routing →
 *   reset, bootstrap with masquerade: flannel (the release's own MASQUERADE rules do the masquerade-out)
 *   → reset.
 * Each time: N×N pod → pod with the sender's own address seen, masqueraded out from the node's
 * address, host ↔ pod, nothing left behind. Prints the times; no timing is asserted.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { standinTarball } from '../../src/lab/standin.js';
import { startLab, type TestLab } from '../helpers/lab.js';
import { describeRoot } from '../helpers/root.js';
import { cli, repoRoot, showCli as show } from '../helpers/cli.js';
import { podsHelpers } from '../helpers/pods.js';

const RELEASES = ['v0.11.0', 'v0.22.3'] as const;

describeRoot('flanctl verify --pods on the emulated releases v0.11.0 (etcd v2) and v0.22.3 (etcd v3), 3 nodes', () => {
  let lab: TestLab;
  let pods: ReturnType<typeof podsHelpers>;
  const nodes = ['node1', 'node2', 'node3'];
  const times: string[] = [];
  const timed = async <T>(label: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    try {
      return await fn();
    } finally {
      times.push(`${label}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
  };

  beforeAll(async () => {
    if (!existsSync(join(repoRoot, 'dist/commands/verify.js'))) throw new Error('dist/ is missing: run `npm run build` before the system tests');
    lab = await startLab({ nodes: 3, tarball: standinTarball(RELEASES[0]) });
    pods = podsHelpers(lab, nodes);
    const certs = await cli(['certs', 'generate', '-i', pods.inv]);
    expect(certs.code, show(certs)).toBe(0);
  }, 300_000);

  afterAll(async () => {
    if (times.length) console.log(`verify --pods on each release (3 lab nodes):\n  ${times.join('\n  ')}`);
    await lab?.down();
  }, 120_000);

  for (const release of RELEASES) {
    it(`${release}: verify --pods green on vxlan, host-gw, vxlan+DirectRouting and with masquerade: flannel; nothing left`, async () => {
      const up = await cli(['lab', 'up', '--dir', lab.dir, '--nodes', '3', '--release', release]);
      expect(up.code, show(up)).toBe(0);
      const doc = parse(readFileSync(pods.inv, 'utf8')) as Record<string, any>;
      expect(doc.etcd.api).toBe(release === 'v0.11.0' ? 'v2' : 'v3');
      pods.editInventory((d) => {
        d.network.backend = { type: 'vxlan' };
        d.iptables = { ...(d.iptables ?? {}), masquerade: 'tightened' };
      });
      try {
        const boot = await timed(`${release} vxlan bootstrap`, () => cli(['bootstrap', '-i', pods.inv, '--trust-new-hosts', '--no-verify']));
        expect(boot.code, show(boot)).toBe(0);
        expect((await lab.exec('node1', ['/opt/flannel/bin/flanneld', '-version'])).stderr.split('\n')[0]).toBe(release);
        await timed(`${release} verify --pods vxlan`, () => pods.expectGreen(`${release} vxlan`));

        const hg = await timed(`${release} switch-backend host-gw`, () => cli(['switch-backend', 'host-gw', '-i', pods.inv, '--yes']));
        expect(hg.code, show(hg)).toBe(0);
        await timed(`${release} verify --pods host-gw`, () => pods.expectGreen(`${release} host-gw`));

        const dr = await timed(`${release} switch-backend vxlan --direct-routing`, () => cli(['switch-backend', 'vxlan', '--direct-routing', '-i', pods.inv, '--yes']));
        expect(dr.code, show(dr)).toBe(0);
        await timed(`${release} verify --pods vxlan+DirectRouting`, () => pods.expectGreen(`${release} vxlan+DirectRouting`));

        // masquerade: flannel: flanneld runs with -ip-masq and the release's own rules masquerade pod traffic out.
        // From a reset lab: bootstrap leaves tightened mode's flanctl rules and watcher behind when the mode
        // changes in place (reported to the lead), and those would masquerade in the release's stead.
        const reset = await timed(`${release} reset`, () => cli(['reset', '-i', pods.inv, '--yes']));
        expect(reset.code, show(reset)).toBe(0);
        pods.editInventory((d) => { d.iptables = { ...(d.iptables ?? {}), masquerade: 'flannel' }; });
        const boot2 = await timed(`${release} bootstrap vxlan+DirectRouting, masquerade: flannel`, () => cli(['bootstrap', '-i', pods.inv, '--no-verify']));
        expect(boot2.code, show(boot2)).toBe(0);
        const nat = await pods.sh('node1', 'iptables -w -t nat -S');
        // Only the release's rules masquerade: v0.11.0 writes them into POSTROUTING, v0.22.3 into FLANNEL-POSTRTG.
        const chain = release === 'v0.11.0' ? 'POSTROUTING' : 'FLANNEL-POSTRTG';
        expect(nat, nat).toMatch(new RegExp(`^-A ${chain} -s 10\\.244\\.0\\.0/16 ! -d 224\\.0\\.0\\.0/4 .*-j MASQUERADE`, 'm'));
        expect(nat.split('\n').filter((l) => /MASQUERADE/.test(l) && /flanctl/.test(l)), nat).toEqual([]);
        await timed(`${release} verify --pods masquerade: flannel`, () => pods.expectGreen(`${release} vxlan+DirectRouting, masquerade: flannel`));
      } finally {
        // The next release starts from a reset lab, whatever happened (reset with this release's etcd API).
        const reset = await cli(['reset', '-i', pods.inv, '--yes']);
        expect(reset.code, show(reset)).toBe(0);
      }
    }, 600_000);
  }
});
