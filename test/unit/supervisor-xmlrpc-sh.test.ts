/**
 * The supervisord status read and the ctl script's XML-RPC helpers take supervisord's answers apart
 * with shell builtins (XML_SH), one curl per read. Run here with a real sh (dash and bash) against a
 * stub curl that answers what supervisord 4 sends (newlines between the tags, as captured from a lab
 * node), and a stub supervisorctl for the fallback.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseSupervisorStatus, supervisorStatusArgv } from '../../src/steps/service-state.js';
import { XML_SH, SUPERVISOR_SOCK_SH } from '../../src/steps/flanneld-ctl.sh.js';
import { allProcessInfo, fault, withSupervisorConf } from './supervisord-xml.js';

const tmp = mkdtempSync(join(tmpdir(), 'flanctl-xmlrpc-sh-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const stub = join(tmp, 'stub');
mkdirSync(stub);
const CONF = join(tmp, 'supervisord.conf');
writeFileSync(CONF, `[unix_http_server]\nfile=${join(tmp, 'supervisor.sock')}\n\n[supervisorctl]\nserverurl=unix://${join(tmp, 'supervisor.sock')} ; a comment\n`);
// curl answers the file $ANSWER and logs its method; supervisorctl prints its own line and exits 3.
writeFileSync(join(stub, 'curl'), '#!/bin/sh\nfor a; do case "$a" in *methodName*) echo "$a" | sed "s/.*<methodName>\\([^<]*\\)<.*/\\1/" >> "$LOG";; esac; done\ncat "$ANSWER"\n');
writeFileSync(join(stub, 'supervisorctl'), '#!/bin/sh\necho "supervisorctl $*" >> "$LOG"\necho "fallback: supervisorctl $*"\nexit 3\n');
for (const f of ['curl', 'supervisorctl']) chmodSync(join(stub, f), 0o755);

function run(shell: string, script: string, args: string[], answer: string) {
  writeFileSync(join(tmp, 'answer'), answer);
  writeFileSync(join(tmp, 'log'), '');
  // The script looks for supervisorctl's config at fixed paths; this run points it at its own.
  const text = withSupervisorConf(script, CONF);
  const r = spawnSync(shell, ['-c', text, 'test', ...args], {
    env: { ...process.env, PATH: `${stub}:${process.env.PATH}`, ANSWER: join(tmp, 'answer'), LOG: join(tmp, 'log') },
    encoding: 'utf8',
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, log: readFileSync(join(tmp, 'log'), 'utf8').trim().split('\n').filter(Boolean) };
}

const statusScript = supervisorStatusArgv([])[2];

describe.each(['dash', 'bash'])('%s: supervisord status through XML-RPC, builtins only', (shell) => {
  it('one getAllProcessInfo answers every name: RUNNING with its pid, other states, a name not there, group:name', () => {
    const answer = allProcessInfo([
      { name: 'flanctl-iptables', state: 'STOPPED', description: 'Dec 01 08:13 AM' },
      { name: 'flanneld', state: 'RUNNING', pid: 5414, description: 'pid 5414, uptime 0:02:00' },
      { name: 'web', group: 'apps', state: 'BACKOFF', description: 'Exited too quickly (process log may have details)' },
    ]);
    const r = run(shell, statusScript, ['flanneld', 'flanctl-iptables', 'nope', 'apps:web'], answer);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('flanneld RUNNING pid 5414\nflanctl-iptables STOPPED\nnope: ERROR (no such process)\napps:web BACKOFF\n');
    expect(r.log).toEqual(['supervisor.getAllProcessInfo']);
    expect(parseSupervisorStatus(r.stdout, ['flanneld', 'flanctl-iptables', 'nope'])).toEqual({
      flanneld: { state: 'RUNNING', pid: 5414 },
      'flanctl-iptables': { state: 'STOPPED' },
      nope: { state: 'MISSING' },
    });
  });

  it('a name that only appears inside another member (description, logfile) is not taken for a program', () => {
    const answer = allProcessInfo([{ name: 'other', state: 'RUNNING', pid: 7, description: '<name>flanneld</name>' }]);
    // supervisord escapes < in strings; even an unescaped one in a description is not the struct's name member.
    const r = run(shell, statusScript, ['flanneld'], answer);
    expect(r.stdout).toBe('flanneld: ERROR (no such process)\n');
  });

  it('a fault (supervisord shutting down) or no answer falls back to supervisorctl, with its output and exit code', () => {
    const r = run(shell, statusScript, ['flanneld'], fault(6, 'SHUTDOWN_STATE'));
    expect(r.stdout).toBe('fallback: supervisorctl status flanneld\n');
    expect(r.code).toBe(3);
    const empty = run(shell, statusScript, ['flanneld'], '');
    expect(empty.stdout).toBe('fallback: supervisorctl status flanneld\n');
    expect(empty.log).toEqual(['supervisor.getAllProcessInfo', 'supervisorctl status flanneld']);
  });

  it('member, flat and fault: values of any type, none, newlines to spaces, faultString', () => {
    const sh = `${SUPERVISOR_SOCK_SH}
r=$(cat "$ANSWER")
member "$r" pid && echo "pid=$v"
member "$r" statename && echo "statename=$v"
member "$r" nothere || echo "nothere: none ($v)"
flat "a
b

c"; echo "flat=[$v]"
flat ""; echo "flat-empty=[$v]"
f=$(fault "$(cat "$FAULT")") && echo "fault=$f"
fault "$r" || echo "no fault"`;
    writeFileSync(join(tmp, 'fault'), fault(10, 'BAD_NAME: flanneld'));
    const answer = allProcessInfo([{ name: 'flanneld', state: 'STARTING', pid: 0 }]).replace('<int>0</int>', '<i4>0</i4>');
    process.env.FAULT = join(tmp, 'fault');
    try {
      const r = run(shell, sh, [], answer);
      expect(r.stdout).toBe('pid=0\nstatename=STARTING\nnothere: none ()\nflat=[a b  c]\nflat-empty=[]\nfault=BAD_NAME: flanneld\nno fault\n');
    } finally {
      delete process.env.FAULT;
    }
  });

  it('XML_SH defines its functions without running a process', () => {
    expect(XML_SH).not.toMatch(/\b(sed|tr|awk|cut|grep)\b/);
  });
});
