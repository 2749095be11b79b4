/**
 * Issue 12, finding 3: flanctl-iptables.sh runs as root every 30 s and reads FLANNEL_SUBNET from
 * subnet.env. Only a strict a.b.c.d/len reaches shell arithmetic: a crafted value such as
 * 10.244.5.PATH[$(cmd)]/24 (which bash evaluates inside $(( ))) is refused under bash and dash alike.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseInventory, type Inventory } from '../../src/model/inventory.js';
import { renderIptablesScript } from '../../src/model/templates.js';

const tmp = mkdtempSync(join(tmpdir(), 'flanctl-sec-ipt-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// An iptables that only logs: -C answers "absent", so the script would -A every rule it accepts.
const STUB = '#!/bin/sh\necho "$*" >> "$LOG"\nfor a in "$@"; do [ "$a" = -C ] && exit 1; done\nexit 0\n';

async function script(): Promise<{ run: (shell: string, subnet: string) => { code: number; log: string; stderr: string } }> {
  const yaml = 'network: { cidr: 10.244.0.0/16 }\netcd: { endpoints: ["https://10.77.0.1:2379"] }\nflannel: { tarball: f.tgz }\nnodes: [{ name: node1, host: 10.77.0.11 }]\n';
  const base = (await parseInventory(yaml, '/lab/inventory.yaml')).inventory;
  // Validation refuses /tmp for remote paths; this local run patches its own dir in afterwards.
  const inv: Inventory = { ...base, flannel: { ...base.flannel, subnetFile: join(tmp, 'subnet.env'), configDir: join(tmp, 'etc') } };
  mkdirSync(join(tmp, 'stub'), { recursive: true });
  writeFileSync(join(tmp, 'stub', 'iptables'), STUB);
  chmodSync(join(tmp, 'stub', 'iptables'), 0o755);
  const file = join(tmp, 'flanctl-iptables.sh');
  writeFileSync(file, renderIptablesScript(inv).replace(/^STATE_FILE=.*$/m, `STATE_FILE='${join(tmp, 'state')}'`));
  return {
    run(shell, subnet) {
      writeFileSync(join(tmp, 'subnet.env'), `FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=${subnet}\nFLANNEL_MTU=1450\n`);
      writeFileSync(join(tmp, 'log'), '');
      rmSync(join(tmp, 'state'), { force: true });
      const r = spawnSync(shell, [file], { env: { ...process.env, PATH: `${join(tmp, 'stub')}:${process.env.PATH}`, LOG: join(tmp, 'log') }, encoding: 'utf8' });
      return { code: r.status ?? -1, log: readFileSync(join(tmp, 'log'), 'utf8'), stderr: r.stderr };
    },
  };
}

describe('flanctl-iptables.sh parses FLANNEL_SUBNET strictly before any arithmetic', () => {
  const marker = join(tmp, 'pwned');
  const crafted = [
    `10.244.5.PATH[$(touch ${marker})]/24`,
    `10.244.5.x[$(touch ${marker})]/24`,
    '10.244.5.1/24/8', '10.244.05.1/24', '10.244.5.256/24', '10.244.5.1/33', '10.244.5.1/0', '10.244.5.0/24',
    '10.244.5.1', '10.244.5/24', '10.244..1/24', '.10.244.5.1/24', '10.244.5.1./24', '10.244.5.1/24 x', '',
  ];
  for (const shell of ['bash', 'dash']) {
    it(`${shell}: refuses every crafted value, runs nothing, adds no rule`, async () => {
      const s = await script();
      for (const value of crafted) {
        const r = s.run(shell, value);
        expect(r.code, `${value}: ${r.stderr}`).not.toBe(0);
        expect(r.log, value).toBe('');
        expect(existsSync(marker), value).toBe(false);
      }
    });

    it(`${shell}: a well-formed lease still gets its rules`, async () => {
      const r = (await script()).run(shell, '10.244.5.1/24');
      expect(r.code, r.stderr).toBe(0);
      expect(r.log).toMatch(/-A POSTROUTING -s 10\.244\.5\.0\/24 ! -d 10\.244\.0\.0\/16/);
    });
  }

  it('control: the crafted value does run a command under bash arithmetic (what the check prevents)', () => {
    const m = join(tmp, 'control');
    spawnSync('bash', ['-c', `last='x[$(touch ${m})]'; echo $((last - 1))`]);
    expect(existsSync(m)).toBe(true);
  });
});
