import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const script = join(import.meta.dirname, '..', '..', 'lab', 'flanneld-standin', 'mk-docker-opts.sh');
const dir = mkdtempSync(join(tmpdir(), 'standin-mkdo-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A fake `ip` first on PATH: prints $FAKE_ROUTES for `ip -4 route show <net>`. */
const fakeBin = join(dir, 'bin');
mkdirSync(fakeBin);
writeFileSync(join(fakeBin, 'ip'), '#!/bin/sh\necho "ip $*" >> "$FAKE_IP_LOG"\nprintf "%s" "$FAKE_ROUTES"\n');
chmodSync(join(fakeBin, 'ip'), 0o755);

let n = 0;
function run(env: string, args: string[], extraEnv: Record<string, string> = {}) {
  const i = n++;
  const envFile = join(dir, `subnet-${i}.env`);
  const out = join(dir, `docker-${i}.env`);
  writeFileSync(envFile, env);
  return new Promise<{ code: number; stderr: string; out?: string; ipLog?: string }>((resolve) => {
    execFile(
      'sh',
      [script, '-f', envFile, '-d', out, ...args],
      { env: { PATH: `${fakeBin}:/usr/bin:/bin`, FAKE_IP_LOG: join(dir, `ip-${i}.log`), FAKE_ROUTES: '', ...extraEnv } },
      (err, _stdout, stderr) => {
        resolve({
          code: err ? Number((err as { code?: number }).code ?? 1) : 0,
          stderr,
          out: existsSync(out) ? readFileSync(out, 'utf8') : undefined,
          ipLog: existsSync(join(dir, `ip-${i}.log`)) ? readFileSync(join(dir, `ip-${i}.log`), 'utf8') : undefined,
        });
      },
    );
  });
}

const sample = 'FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_SUBNET=10.1.74.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=false\n';

describe('mk-docker-opts.sh (FLANNEL.md §7)', () => {
  it('writes individual and combined options exactly like the documented example', async () => {
    const r = await run(sample, []);
    expect(r.code).toBe(0);
    expect(r.out).toBe(
      'DOCKER_OPT_BIP="--bip=10.1.74.1/24"\n' +
        'DOCKER_OPT_IPMASQ="--ip-masq=true"\n' +
        'DOCKER_OPT_MTU="--mtu=1472"\n' +
        'DOCKER_OPTS=" --bip=10.1.74.1/24 --ip-masq=true --mtu=1472"\n',
    );
    expect(r.ipLog).toContain('ip -4 route show 10.1.74.0/24');
  });

  it('-i writes only individual vars, -c only the combined one, -k renames it', async () => {
    expect((await run(sample, ['-i'])).out).not.toContain('DOCKER_OPTS=');
    expect((await run(sample, ['-c', '-k', 'DOCKER_NETWORK_OPTIONS'])).out).toBe(
      'DOCKER_NETWORK_OPTIONS=" --bip=10.1.74.1/24 --ip-masq=true --mtu=1472"\n',
    );
  });

  it('inverts FLANNEL_IPMASQ, -m omits it, anything else is an error', async () => {
    expect((await run(sample.replace('IPMASQ=false', 'IPMASQ=true'), ['-c'])).out).toContain('--ip-masq=false');
    expect((await run(sample, ['-c', '-m'])).out).toBe('DOCKER_OPTS=" --bip=10.1.74.1/24 --mtu=1472"\n');
    const bad = await run(sample.replace('IPMASQ=false', 'IPMASQ=yes'), []);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('FLANNEL_IPMASQ');
    expect(bad.out).toBeUndefined();
  });

  it('prepends an existing value of the combined variable', async () => {
    expect((await run(sample, ['-c'], { DOCKER_OPTS: '--debug' })).out).toBe('DOCKER_OPTS="--debug --bip=10.1.74.1/24 --ip-masq=true --mtu=1472"\n');
  });

  it('refuses when the routing table already has a via route for the node subnet', async () => {
    const r = await run('FLANNEL_SUBNET=10.1.74.129/25\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n', [], {
      FAKE_ROUTES: '10.1.74.128/25 via 192.168.1.1 dev eth0\n',
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Your routing table already contains the subnet');
    expect(r.ipLog).toContain('route show 10.1.74.128/25');
    expect(r.out).toBeUndefined();
  });

  it('fails clearly when the env file is missing', async () => {
    const r = await new Promise<{ code: number; stderr: string }>((resolve) =>
      execFile('sh', [script, '-f', join(dir, 'nope.env'), '-d', join(dir, 'x.env')], (err, _o, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code) : 0, stderr }),
      ),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('nope.env');
  });
});
