/**
 * The probe-interface script (verify/probes.ts PROBE_ADD_SCRIPT) run by a real sh against a fake `ip`
 * on PATH: which commands it runs, in what order, and how addProbeInterface reads the outcome.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { localConnector } from '../../src/connector/local.js';
import { addProbeInterface } from '../../src/verify/probes.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A fake `ip` logging its argv; `fail` maps an argv substring to the stderr it fails with. */
function fakeIp(fail: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), 'flanctl-probe-'));
  dirs.push(dir);
  const cases = Object.entries(fail).map(([k, v]) => `*'${k}'*) echo '${v}' >&2; exit 2;;`).join('\n  ');
  writeFileSync(join(dir, 'ip'), `#!/bin/sh\necho "$*" >> "${dir}/log"\ncase "$*" in\n  ${cases}\nesac\nexit 0\n`);
  chmodSync(join(dir, 'ip'), 0o755);
  const log = () => readFileSync(join(dir, 'log'), 'utf8').trim().split('\n');
  const conn = localConnector({ name: 'local', prefix: ['env', `PATH=${dir}:${process.env.PATH}`] });
  return { conn, log };
}

describe('PROBE_ADD_SCRIPT with a real sh', () => {
  it('dummy where the kernel has it: del leftover, add, /32, up, in one round trip', async () => {
    const ip = fakeIp({ 'link del': 'Cannot find device "flanctl-probe"' });
    const p = await addProbeInterface(ip.conn, 'node1', '10.244.3.1');
    expect(p).toMatchObject({ created: true, linkType: 'dummy', removed: false });
    expect(p.error).toBeUndefined();
    expect(ip.log()).toEqual(['link del flanctl-probe', 'link add flanctl-probe type dummy', 'addr add 10.244.3.1/32 dev flanctl-probe', 'link set flanctl-probe up']);
  });

  it('no dummy module: an empty bridge; an address that fails is reported with its command', async () => {
    const ip = fakeIp({ 'type dummy': 'Error: Unknown device type.', 'addr add': 'RTNETLINK answers: File exists' });
    const p = await addProbeInterface(ip.conn, 'node1', '10.244.3.1');
    expect(p).toMatchObject({ created: true, linkType: 'bridge' });
    expect(p.error).toBe('ip addr add 10.244.3.1/32 dev flanctl-probe: RTNETLINK answers: File exists');
  });

  it('neither link type: not created, the last failure says why', async () => {
    const ip = fakeIp({ 'type dummy': 'Error: Unknown device type.', 'type bridge': 'RTNETLINK answers: Operation not permitted' });
    const p = await addProbeInterface(ip.conn, 'node1', '10.244.3.1');
    expect(p).toMatchObject({ created: false });
    expect(p.error).toBe('ip link add flanctl-probe type bridge: RTNETLINK answers: Operation not permitted');
  });
});
