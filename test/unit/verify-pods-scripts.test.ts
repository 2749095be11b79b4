/**
 * The node-side scripts of `verify --pods` (issue 17, speed): run under bash and dash against stub
 * `ip`, `iptables`, `iptables-restore` and `ping` that only log. Arming a 20-node pod chain is one
 * iptables-restore per chain (not one iptables process per rule); the ping script gets each exit
 * status from `wait` and keeps every output; the mid snapshot is complete before the
 * masquerade-out ping starts.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ARM, COLLECT_THEN_PING, HOST_CHAIN, POD_CHAIN } from '../../src/verify/pods/scripts.js';
import { parsePingOutput, PING_SCRIPT } from '../../src/verify/probes.js';
import { countsByTag, parseCounted, sections } from '../../src/verify/pods/judge.js';

const tmp = mkdtempSync(join(tmpdir(), 'flanctl-pods-scripts-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const stubs: Record<string, string> = {
  // `ip netns exec NS cmd…` runs cmd (logged as running in NS); anything else is logged only.
  ip: '#!/bin/sh\nif [ "$1 $2" = "netns exec" ]; then ns=$3; shift 3; FLANCTL_NS=$ns exec "$@"; fi\necho "ip $*" >> "$LOG"\n',
  iptables: `#!/bin/sh\necho "iptables\${FLANCTL_NS:+@$FLANCTL_NS} $*" >> "$LOG"\nfor a in "$@"; do [ "$a" = -C ] && exit 1; done\n` +
    `case "$*" in *"-S ${POD_CHAIN} -v"*) echo "-A ${POD_CHAIN} -s 10.244.2.5/32 -p icmp -m icmp --icmp-type 8 -m comment --comment \\"pod.node2\\" -c 1 84 -j RETURN";; esac\nexit 0\n`,
  'iptables-restore': '#!/bin/sh\n{ echo "iptables-restore${FLANCTL_NS:+@$FLANCTL_NS} $*"; cat; echo "--"; } >> "$LOG"\n',
  // Answers for x.x.x.1 and x.x.x.2 (after a little while, so the statuses come back out of order), fails otherwise.
  ping: '#!/bin/sh\nfor t; do :; done\necho "ping${FLANCTL_NS:+@$FLANCTL_NS} $*" >> "$LOG"\ncase $t in\n*.1) sleep 0.2; echo "64 bytes from $t: icmp_seq=1 ttl=64 time=0.5 ms"; exit 0;;\n*.2) echo "64 bytes from $t: icmp_seq=1 ttl=64 time=0.7 ms"; exit 0;;\nesac\necho "1 packets transmitted, 0 received, 100% packet loss"; exit 1\n',
};
mkdirSync(join(tmp, 'stub'), { recursive: true });
for (const [name, text] of Object.entries(stubs)) {
  writeFileSync(join(tmp, 'stub', name), text);
  chmodSync(join(tmp, 'stub', name), 0o755);
}

function run(shell: string, script: string, args: string[]) {
  const log = join(tmp, `log-${shell}`);
  writeFileSync(log, '');
  const r = spawnSync(shell, ['-s', '--', ...args], { input: script, env: { ...process.env, PATH: `${join(tmp, 'stub')}:${process.env.PATH}`, LOG: log }, encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, log: readFileSync(log, 'utf8') };
}

describe.each(['bash', 'dash'])('verify --pods node scripts under %s', (shell) => {
  it('ARM loads the pod chain of a 20-node cluster and the host chain with one iptables-restore each', () => {
    const pod: string[] = [];
    for (let n = 2; n <= 20; n++) pod.push(`pod.node${n}`, `10.244.${n}.5`, `pub.node${n}`, `10.77.0.${n + 10}`, `dev.node${n}`, `10.244.${n}.0`, `br.node${n}`, `10.244.${n}.1`);
    const r = run(shell, ARM, [String(pod.length / 2), ...pod, 'out-pub.node20', '10.77.0.30', 'out-pod.node20', '10.244.20.5']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toContain('@@error');
    const calls = r.log.split('\n').filter((l) => /^(iptables|ip|ping)\S* /.test(l));
    expect(calls).toEqual([
      'iptables-restore@flanctl-pod -w 5 --noflush',
      `iptables -w 5 -C INPUT -j ${HOST_CHAIN}`,
      'iptables-restore -w 5 --noflush',
      'iptables -w 5 -t nat -S -v',
      'iptables -w 5 -t filter -S FORWARD -v',
    ]);
    const [podInput, hostInput] = [...r.log.matchAll(/^iptables-restore\S* .*\n([\s\S]*?)^--$/gm)].map((m) => m[1]);
    const podRules = podInput.split('\n').filter((l) => l.startsWith(`-A ${POD_CHAIN} `));
    expect(podRules).toHaveLength(19 * 4 + 1);
    expect(podInput).toMatch(new RegExp(`^\\*filter\\n:${POD_CHAIN} - \\[0:0\\]\\n-A INPUT -j ${POD_CHAIN}\\n`));
    expect(podRules[0]).toBe(`-A ${POD_CHAIN} -s 10.244.2.5/32 -p icmp --icmp-type echo-request -m comment --comment "pod.node2" -j RETURN`);
    expect(podRules.at(-1)).toBe(`-A ${POD_CHAIN} -p icmp --icmp-type echo-request -m comment --comment other`);
    expect(podInput.trimEnd().endsWith('COMMIT')).toBe(true);
    // -C said the jump is absent: the restore inserts it; the chain line flushes a leftover chain.
    expect(hostInput.split('\n').filter(Boolean)).toEqual([
      '*filter',
      `:${HOST_CHAIN} - [0:0]`,
      `-I INPUT 1 -j ${HOST_CHAIN}`,
      `-A ${HOST_CHAIN} -s 10.77.0.30/32 -p icmp --icmp-type echo-request -m comment --comment "out-pub.node20"`,
      `-A ${HOST_CHAIN} -s 10.244.20.5/32 -p icmp --icmp-type echo-request -m comment --comment "out-pod.node20"`,
      'COMMIT',
    ]);
  });

  it('ARM on a node without a pod arms only the host chain; with no host entries, only the pod chain', () => {
    const host = run(shell, ARM, ['-', 'out-pub.node1', '10.77.0.11']);
    expect(host.log).not.toContain('@flanctl-pod');
    expect(host.log).toContain(`-A ${HOST_CHAIN} -s 10.77.0.11/32`);
    const pod = run(shell, ARM, ['1', 'pod.node2', '10.244.2.5']);
    expect(pod.log).not.toContain(HOST_CHAIN);
    expect(pod.log).toContain('iptables-restore@flanctl-pod');
  });

  it('PING_SCRIPT: every target gets its own status (from wait) and output, in argument order', () => {
    const targets = ['10.244.2.1', '10.244.3.9', '10.244.4.2', '10.244.5.1', '10.244.6.7'];
    const r = run(shell, PING_SCRIPT, ['-', '0', ...targets]);
    expect(r.code, r.stderr).toBe(0);
    const res = parsePingOutput(r.stdout, targets);
    expect(res.map((p) => p.ok)).toEqual([true, false, true, true, false]);
    expect(res[0].rttMs).toBe(0.5);
    expect(res[1].error).toBe('no reply within 1 s');
    expect(r.log.split('\n').filter((l) => l.startsWith('ping ')).sort()).toEqual(targets.map((t) => `ping -n -c1 -W1 ${t}`).sort());
    const sized = run(shell, PING_SCRIPT, ['10.244.1.1', '1422', '10.244.2.1']);
    expect(sized.log).toContain('ping -n -c1 -W1 -I 10.244.1.1 -M do -s 1422 10.244.2.1');
  });

  it('COLLECT_THEN_PING: the counters and the snapshot are read before the pod pings the masquerade target', () => {
    const r = run(shell, COLLECT_THEN_PING, ['10.77.0.12']);
    expect(r.code, r.stderr).toBe(0);
    const order = r.log.split('\n').filter(Boolean).map((l) => l.split(' ')[0]);
    expect(order).toEqual(['iptables@flanctl-pod', 'iptables', 'iptables', 'iptables', 'ping@flanctl-pod']);
    const parts = sections(r.stdout);
    expect([...countsByTag(parseCounted(parts.get('pod') ?? ''))]).toEqual([['pod.node2', 1]]);
    expect(parsePingOutput(parts.get('ping') ?? '', ['10.77.0.12'])).toEqual([{ target: '10.77.0.12', ok: false, error: 'no reply within 1 s' }]);
    // Without a target (a single node): the collect only.
    const alone = run(shell, COLLECT_THEN_PING, []);
    expect(alone.log).not.toContain('ping');
    expect(sections(alone.stdout).get('ping')?.trim()).toBe('');
  });
});
