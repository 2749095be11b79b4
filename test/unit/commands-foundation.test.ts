import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import Init from '../../src/commands/init.js';
import Validate from '../../src/commands/validate.js';
import NetworkConfig from '../../src/commands/network-config.js';
import CertsGenerate from '../../src/commands/certs/generate.js';
import CertsCheck from '../../src/commands/certs/check.js';
import { parseInventory } from '../../src/model/inventory.js';
import { networkConfigText } from '../../src/model/flannel-config.js';
import { inventoryYaml, nodes } from './foundation-fixture.js';
import { runCommand } from './run-command.js';

let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'flanctl-cmd-'));
  file = join(dir, 'inventory.yaml');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('flanctl init', () => {
  it('writes the commented example, which is itself a valid inventory', async () => {
    const run = await runCommand(Init, ['-i', file]);
    expect(run.code).toBe(0);
    const text = readFileSync(file, 'utf8');
    expect(text).toBe(readFileSync(new URL('../../inventory.example.yaml', import.meta.url), 'utf8'));
    expect(text).toMatch(/# flannel "Network"/);
    const { inventory } = await parseInventory(text, file);
    expect(inventory.nodes).toHaveLength(3);
  });

  it('refuses to overwrite without --force (exit 2), and overwrites with it', async () => {
    writeFileSync(file, 'mine: true\n');
    const refused = await runCommand(Init, ['-i', file]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/already exists; not overwriting/);
    expect(refused.stderr).toMatch(/--force/);
    expect(readFileSync(file, 'utf8')).toBe('mine: true\n');
    const forced = await runCommand(Init, ['-i', file, '--force']);
    expect(forced.code).toBe(0);
    expect(readFileSync(file, 'utf8')).toMatch(/^# flanctl inventory/);
  });

  it('fills in flags and keeps the comments', async () => {
    const run = await runCommand(Init, [
      '-i', file, '--cidr', '10.50.0.0/16', '--backend', 'host-gw', '--etcd', 'https://10.0.0.5:2379', '--api', 'v2',
      '--node', 'a=10.0.0.11', '--node', 'b=10.0.0.12,ens3', '--json',
    ]);
    expect(run.code).toBe(0);
    expect(run.json).toMatchObject({ nodes: 2, overwritten: false });
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(/# flannel "Network"/);
    const { inventory } = await parseInventory(text, file);
    expect(inventory.network.cidr).toBe('10.50.0.0/16');
    expect(inventory.network.backend.type).toBe('host-gw');
    expect(inventory.etcd).toMatchObject({ endpoints: ['https://10.0.0.5:2379'], api: 'v2' });
    expect(inventory.nodes.map((n) => [n.name, n.host, n.iface])).toEqual([['a', '10.0.0.11', 'eth0'], ['b', '10.0.0.12', 'ens3']]);
  });

  it('rejects flag values that make an invalid inventory, naming the path, and writes nothing', async () => {
    const run = await runCommand(Init, ['-i', file, '--cidr', '10.0.0.0/29']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/network\.cidr: .*\/28/);
    expect(existsSync(file)).toBe(false);
    const badNode = await runCommand(Init, ['-i', file, '--node', 'nohost']);
    expect(badNode.code).toBe(2);
    expect(badNode.stderr).toMatch(/--node nohost: expected name=host/);
  });
});

describe('flanctl validate', () => {
  it('prints node count, capacity and the config JSON', async () => {
    writeFileSync(file, inventoryYaml({ network: { subnetLen: 21 }, nodes: nodes(5) }));
    const run = await runCommand(Validate, ['-i', file]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/nodes +5 /);
    expect(run.stdout).toMatch(/capacity +31 subnet leases, 26 free/);
    expect(run.stdout).toContain('{"Network":"10.244.0.0/16","SubnetLen":21,"Backend":{"Type":"vxlan","VNI":1,"Port":8472,"DirectRouting":false}}');
  });

  it('--json returns the report', async () => {
    writeFileSync(file, inventoryYaml());
    const run = await runCommand(Validate, ['-i', file, '--json']);
    expect(run.code).toBe(0);
    expect(run.json).toMatchObject({ valid: true, network: { capacity: 255, subnetLen: 24, min: '10.244.1.0', max: '10.244.255.0' }, config: { Backend: { Type: 'vxlan' } } });
    expect(run.json.nodes).toHaveLength(2);
  });

  it('exits 2 naming the path and line of each problem, without a stack trace', async () => {
    writeFileSync(file, inventoryYaml({ network: { subnetLen: 21 }, nodes: nodes(32), flannel: { subnetLeaseRenewMargin: 2000 } }));
    const run = await runCommand(Validate, ['-i', file]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/line \d+: network\.subnetLen: only 31 usable \/21 subnets/);
    expect(run.stderr).toMatch(/line \d+: flannel\.subnetLeaseRenewMargin: 2000 minutes/);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it('--json errors list the problems', async () => {
    writeFileSync(file, inventoryYaml({ nodes: [{ name: 'a', host: '10.244.1.1' }] }));
    const run = await runCommand(Validate, ['-i', file, '--json']);
    expect(run.code).toBe(2);
    expect(run.json.error.problems).toEqual([expect.objectContaining({ path: 'nodes[0].host', line: expect.any(Number) })]);
  });

  it('a missing inventory is exit 2 with a hint', async () => {
    const run = await runCommand(Validate, ['-i', join(dir, 'nope.yaml')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/not found/);
    expect(run.stderr).toMatch(/flanctl init/);
  });

  it('an unknown flag is exit 2', async () => {
    writeFileSync(file, inventoryYaml());
    expect((await runCommand(Validate, ['-i', file, '--bogus'])).code).toBe(2);
  });
});

describe('flanctl network-config', () => {
  it('prints exactly the JSON written to etcd', async () => {
    writeFileSync(file, inventoryYaml({ network: { backend: { type: 'vxlan', directRouting: true } } }));
    const run = await runCommand(NetworkConfig, ['-i', file]);
    expect(run.code).toBe(0);
    const { inventory } = await parseInventory(readFileSync(file, 'utf8'), file);
    expect(run.stdout.trim()).toBe(networkConfigText(inventory));
    expect(JSON.parse(run.stdout).Backend).toEqual({ Type: 'vxlan', VNI: 1, Port: 8472, DirectRouting: true });
  });

  it('--json gives the key and the config', async () => {
    writeFileSync(file, inventoryYaml({ etcd: { prefix: '/lab/network' } }));
    const run = await runCommand(NetworkConfig, ['-i', file, '--json']);
    expect(run.json).toMatchObject({ key: '/lab/network/config', config: { Network: '10.244.0.0/16', SubnetLen: 24 } });
  });

  it('--apply and --check together are a usage error', async () => {
    writeFileSync(file, inventoryYaml());
    expect((await runCommand(NetworkConfig, ['-i', file, '--apply', '--check'])).code).toBe(2);
  });

  it('--apply without the TLS files fails with a hint to generate them (exit 1)', async () => {
    writeFileSync(file, inventoryYaml({ pki: { dir: join(dir, 'pki') } }));
    const run = await runCommand(NetworkConfig, ['-i', file, '--apply']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/etcd TLS files not found/);
    expect(run.stderr).toMatch(/flanctl certs generate/);
  });
});

describe('flanctl certs', () => {
  it('check fails before generate, generate creates, rerun changes nothing, check passes', async () => {
    writeFileSync(file, inventoryYaml({ pki: { dir: 'pki', flanneld: { key: { algo: 'ecdsa' } } } }));
    const before = await runCommand(CertsCheck, ['-i', file]);
    expect(before.code).toBe(1);
    expect(before.stdout).toMatch(/FAIL ca: .*ca\.pem/);

    const gen = await runCommand(CertsGenerate, ['-i', file, '--json']);
    expect(gen.code).toBe(0);
    expect(gen.json).toMatchObject({ ca: { created: true }, flanneld: { created: true, info: { eku: ['clientAuth'], keyAlgo: 'ecdsa' } } });
    const key = join(dir, 'pki', 'flanneld-key.pem');
    expect(statSync(key).mode & 0o777).toBe(0o600);
    const pem = readFileSync(join(dir, 'pki', 'flanneld.pem'), 'utf8');

    const again = await runCommand(CertsGenerate, ['-i', file]);
    expect(again.stdout).toMatch(/CA .*reused/);
    expect(again.stdout).toMatch(/unchanged/);
    expect(readFileSync(join(dir, 'pki', 'flanneld.pem'), 'utf8')).toBe(pem);

    const ok = await runCommand(CertsCheck, ['-i', file]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/ok {3}flanneld: /);
    expect(ok.stdout).toMatch(/EKU +clientAuth/);

    const soon = await runCommand(CertsCheck, ['-i', file, '--warn-days', '400', '--json']);
    expect(soon.code).toBe(1);
    expect(soon.json.ok).toBe(false);
    expect(soon.json.certs[1].problems[0]).toMatch(/within --warn-days 400/);

    const forced = await runCommand(CertsGenerate, ['-i', file, '--force']);
    expect(forced.stdout).toMatch(/issued \(forced\)/);
    expect(readFileSync(join(dir, 'pki', 'flanneld.pem'), 'utf8')).not.toBe(pem);
  });
});

describe('every foundation command has examples', () => {
  it.each([Init, Validate, NetworkConfig, CertsGenerate, CertsCheck].map((c) => [c.name, c] as const))('%s', (_n, cmd) => {
    expect(cmd.summary).toBeTruthy();
    expect(cmd.examples?.length).toBeGreaterThan(0);
  });
});
