import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseInventory, type Inventory } from '../../src/model/inventory.js';
import { flanctlRules } from '../../src/steps/iptables.js';
import { flanneldArgs, iniProblems, renderIptablesScript, renderSupervisordConf, renderSystemdUnit } from '../../src/model/templates.js';

const base = (extra = '', flannel = '', etcd = 'https://10.77.0.1:2379') => `network:
  cidr: 10.244.0.0/16
etcd:
  endpoints: [${etcd}]
${etcd.startsWith('http://') ? '  insecure: true\n' : ''}flannel:
  tarball: flannel.tar.gz
${flannel}${extra}nodes:
  - { name: node1, host: 10.77.0.11 }
`;
const inv = async (text = base()) => (await parseInventory(text, '/lab/inventory.yaml')).inventory;
/** Validation refuses remote paths under /tmp (world-writable): the local runs below patch them in afterwards. */
const withFlannel = (i: Inventory, flannel: Partial<Inventory['flannel']>): Inventory => ({ ...i, flannel: { ...i.flannel, ...flannel } });

const tmp = mkdtempSync(join(tmpdir(), 'flanctl-templates-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('rendered files (snapshots)', () => {
  it('systemd unit', async () => {
    const i = await inv();
    expect(renderSystemdUnit(i, i.nodes[0], { hasMkDockerOpts: true })).toMatchSnapshot();
  });
  it('supervisord program', async () => {
    const i = await inv(base('', '  service: supervisord\n'));
    expect(renderSupervisordConf(i, i.nodes[0])).toMatchSnapshot();
  });
  it('iptables script', async () => {
    expect(renderIptablesScript(await inv())).toMatchSnapshot();
  });
});

describe('flanneld flags', () => {
  it('tightened (default): no -ip-masq, flanctl owns FORWARD', async () => {
    const i = await inv();
    const args = flanneldArgs(i, i.nodes[0]);
    expect(args).not.toContain('-ip-masq');
    expect(args).toContain('-iptables-forward-rules=false');
    expect(args).toContain('-iface=eth0');
    expect(args).toContain('-public-ip=10.77.0.11');
  });
  it('masquerade: flannel → -ip-masq and flanneld keeps its FORWARD rules', async () => {
    const i = await inv(base('iptables:\n  masquerade: flannel\n'));
    const args = flanneldArgs(i, i.nodes[0]);
    expect(args).toContain('-ip-masq');
    expect(args.some((a) => a.startsWith('-iptables-forward-rules'))).toBe(false);
  });
  it('plain http etcd: no TLS flags at all (flanneld ignores a lone CA)', async () => {
    const i = await inv(base('', '', 'http://10.77.0.1:2379'));
    expect(flanneldArgs(i, i.nodes[0]).filter((a) => a.startsWith('-etcd-') && a.includes('file'))).toEqual([]);
  });
  it('healthz port 0 omits the flag', async () => {
    const i = await inv(base('', '  healthzPort: 0\n'));
    expect(flanneldArgs(i, i.nodes[0]).some((a) => a.startsWith('-healthz-port'))).toBe(false);
  });
});

/** An inventory whose installDir is a temp dir holding executable stand-ins, so ExecStart/ExecStartPost exist. */
function withBinaries(name: string): string {
  const dir = join(tmp, name, 'bin');
  mkdirSync(dir, { recursive: true });
  for (const f of ['flanneld', 'mk-docker-opts.sh', 'flanctl-iptables.sh']) {
    writeFileSync(join(dir, f), '#!/bin/sh\nexit 0\n');
    chmodSync(join(dir, f), 0o755);
  }
  return dir;
}

function analyze(unitText: string, name: string): { code: number; stderr: string } {
  const file = join(tmp, name, 'flanneld.service');
  writeFileSync(file, unitText);
  const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
  return { code: r.status ?? -1, stderr: r.stderr.trim() };
}

describe('systemd-analyze verify accepts every rendered unit', () => {
  const variants: Array<[string, string]> = [
    ['default', base()],
    ['flannel-masq', base('iptables:\n  masquerade: flannel\n')],
    ['no-docker-opts', base('', '  dockerOpts: false\n')],
    ['http-etcd', base('', '', 'http://10.77.0.1:2379')],
    ['no-healthz-no-iptables', base('iptables:\n  masquerade: none\n  forwardAccept: false\n', '  healthzPort: 0\n')],
  ];
  for (const [name, text] of variants) {
    it(name, async () => {
      const dir = withBinaries(name);
      const i = withFlannel(await inv(text), { installDir: dir });
      const unit = renderSystemdUnit(i, i.nodes[0], { hasMkDockerOpts: true });
      expect(unit).toContain(`ExecStart=${dir}/flanneld`);
      expect(analyze(unit, name)).toEqual({ code: 0, stderr: '' });
    });
  }

  it('and the check itself catches a broken unit (control)', async () => {
    const dir = withBinaries('broken');
    const i = withFlannel(await inv(base()), { installDir: dir });
    const unit = renderSystemdUnit(i, i.nodes[0], { hasMkDockerOpts: true }).replace('Restart=always', 'Restartt=always');
    expect(analyze(unit, 'broken').stderr).toMatch(/Unknown key/);
  });
});

describe('supervisord program', () => {
  it('is well-formed INI and keeps logs under logDir with rotation', async () => {
    const i = await inv(base('', '  service: supervisord\n'));
    const text = renderSupervisordConf(i, i.nodes[0]);
    expect(iniProblems(text)).toEqual([]);
    expect(text).toMatch(/^stdout_logfile=\/var\/log\/flanneld\/flanneld.log$/m);
    expect(text).toMatch(/^stdout_logfile_backups=\d+$/m);
    expect(text).toMatch(/^exitcodes=0,2$/m);
    expect(iniProblems(`${text}\nthis is not ini\n`)).toHaveLength(1);
  });
});

describe('flanctl-iptables.sh agrees with flanctlRules', () => {
  const STUB = `#!/bin/sh
echo "$*" >> "$LOG"
[ "$1" = -w ] && shift
case "$1" in [0-9]*) shift;; esac
[ "$1" = -t ] && { t=$2; shift 2; }
op=$1; c=$2; shift 2
line="$t $c $*"
touch "$RULES"
case $op in
  -C) grep -Fxq -- "$line" "$RULES" ;;
  -A) echo "$line" >> "$RULES" ;;
  -D) grep -Fxq -- "$line" "$RULES" || exit 1
      awk -v l="$line" '!d && $0==l {d=1; next} {print}' "$RULES" > "$RULES.tmp" && mv "$RULES.tmp" "$RULES" ;;
esac
`;

  async function setup(name: string, extra = '') {
    const dir = join(tmp, name);
    mkdirSync(join(dir, 'stub'), { recursive: true });
    writeFileSync(join(dir, 'stub', 'iptables'), STUB);
    chmodSync(join(dir, 'stub', 'iptables'), 0o755);
    const i: Inventory = withFlannel(await inv(base(extra)), { subnetFile: `${dir}/run/subnet.env` });
    mkdirSync(join(dir, 'run'), { recursive: true });
    const script = join(dir, 'flanctl-iptables.sh');
    writeFileSync(script, renderIptablesScript(i));
    chmodSync(script, 0o755);
    const env = { ...process.env, PATH: `${join(dir, 'stub')}:${process.env.PATH}`, LOG: join(dir, 'log'), RULES: join(dir, 'rules') };
    const run = (subnet: string) => {
      writeFileSync(join(dir, 'run', 'subnet.env'), `FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=${subnet}\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n`);
      writeFileSync(env.LOG, '');
      execFileSync(script, [], { env });
      return { rules: readFileSync(env.RULES, 'utf8').trim().split('\n').filter(Boolean), log: readFileSync(env.LOG, 'utf8') };
    };
    return { i, run, rulesFile: env.RULES };
  }

  const text = (r: { table: string; chain: string; spec: string[] }) => `${r.table} ${r.chain} ${r.spec.join(' ')}`;

  it('adds exactly the rules flanctl checks, removes Docker\'s, and a rerun adds nothing', async () => {
    const { i, run, rulesFile } = await setup('script-tightened');
    writeFileSync(rulesFile, 'nat POSTROUTING -s 10.244.7.0/24 ! -o docker0 -j MASQUERADE\n');
    const first = run('10.244.7.1/24');
    const want = flanctlRules(i, '10.244.7.0/24');
    expect(first.rules.sort()).toEqual(want.ensure.map(text).sort());
    const second = run('10.244.7.1/24');
    expect(second.rules.sort()).toEqual(want.ensure.map(text).sort());
    expect(second.log).not.toMatch(/ -A /);
  });

  it('drops the rule of an earlier subnet when the lease changed', async () => {
    const { i, run } = await setup('script-resubnet');
    run('10.244.7.1/24');
    const after = run('10.244.9.1/24');
    expect(after.rules.sort()).toEqual(flanctlRules(i, '10.244.9.0/24').ensure.map(text).sort());
  });

  it('forwardAccept only (masquerade none) adds just the FORWARD rules; /26 subnets work', async () => {
    const { i, run } = await setup('script-none', 'iptables:\n  masquerade: none\n');
    const r = run('10.244.7.65/26');
    expect(r.rules.sort()).toEqual(flanctlRules(i, '10.244.7.64/26').ensure.map(text).sort());
    expect(r.rules.every((x) => x.startsWith('filter FORWARD'))).toBe(true);
  });
});
