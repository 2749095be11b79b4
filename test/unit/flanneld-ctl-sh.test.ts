/**
 * The flanneld-ctl script run by a real sh (dash and bash) against stubs: curl answers as supervisord's
 * XML-RPC socket would (or with something that is not XML-RPC), supervisorctl and "flanneld" are
 * scripts that write subnet.env. Checks what the script decides from the answers of its own calls,
 * now that stop / start do not probe the socket first.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ctlScript, parseCtlOutput } from '../../src/steps/flanneld-ctl.js';
import { CTL_MARKER } from '../../src/steps/flanneld-ctl.sh.js';
import { fault, processStruct, response, withSupervisorConf } from './supervisord-xml.js';

const tmp = mkdtempSync(join(tmpdir(), 'flanctl-ctl-sh-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const stub = join(tmp, 'stub');
mkdirSync(stub);
const CONF = join(tmp, 'supervisord.conf');
const SF = join(tmp, 'subnet.env');
writeFileSync(CONF, `[supervisorctl]\nserverurl=unix://${join(tmp, 'supervisor.sock')}\n`);

const info = (state: string) => response(processStruct({ name: 'flanneld', state, pid: 42 }));

// $MODE: xmlrpc (a supervisord socket: startProcess writes subnet.env, getProcessInfo says RUNNING),
// slow (as xmlrpc, but subnet.env is written at the second poll's nap), garbage (the socket
// answers, but not XML-RPC), notrunning (stopProcess faults NOT_RUNNING).
writeFileSync(join(stub, 'curl'), `#!/bin/sh
for a; do case "$a" in *methodName*) m=$(echo "$a" | sed 's/.*<methodName>supervisor\\.\\([^<]*\\)<.*/\\1/');; http://127.0.0.1:*) echo "healthz" >> "$LOG"; printf 200; exit 0;; esac; done
echo "curl $m" >> "$LOG"
case "$MODE" in garbage) echo "<html>not supervisord</html>"; exit 0;; esac
case "$m" in
  startProcess)
    [ "$MODE" = slow ] || { printf 'FLANNEL_SUBNET=10.244.5.1/24\\n' > "$SF.tmp"; mv "$SF.tmp" "$SF"; }
    cat "$DIR/true.xml";;
  stopProcess) [ "$MODE" = notrunning ] && cat "$DIR/notrunning.xml" || cat "$DIR/true.xml";;
  getProcessInfo) [ -e "$DIR/stopped" ] && cat "$DIR/stopped.xml" || cat "$DIR/running.xml";;
esac
`);
writeFileSync(join(stub, 'supervisorctl'), `#!/bin/sh
echo "supervisorctl $*" >> "$LOG"
case "$1" in
  start) printf 'FLANNEL_SUBNET=10.244.5.1/24\\n' > "$SF.tmp"; mv "$SF.tmp" "$SF"; rm -f "$DIR/stopped"; echo "$2: started";;
  stop) touch "$DIR/stopped"; echo "$2: stopped";;
  status) if [ -e "$DIR/stopped" ]; then echo "$2  STOPPED  Dec 01"; else echo "$2  RUNNING  pid 42, uptime 0:00:01"; fi;;
esac
`);
// ip: "-force -batch -" reports each failed line as real ip does (its message, then "Command failed -:N");
// IPDIE=1 makes it fail without naming a line; anything else succeeds ("-j ..." prints []).
writeFileSync(join(stub, 'ip'), `#!/bin/sh
echo "ip $*" >> "$LOG"
if [ "$1" = -force ] && [ "$2" = -batch ]; then
  [ -n "$IPDIE" ] && { echo 'Object "rout" is unknown, try "ip help".' >&2; exit 255; }
  n=0 bad=0
  while IFS= read -r l; do
    n=$((n+1)); echo "  $l" >> "$LOG"
    case "$l" in
      *fail-missing*) echo "RTNETLINK answers: No such process" >&2; echo "Command failed -:$n" >&2; bad=1;;
      *fail-two*) printf 'Error: first\\nsecond line\\n' >&2; echo "Command failed -:$n" >&2; bad=1;;
    esac
  done
  exit $bad
fi
case "$*" in *fail*) echo 'Cannot find device "x"' >&2; exit 1;; -j*|-4*) echo '[]';; esac
exit 0
`);
// sleep: in slow mode the second nap writes subnet.env (the start "takes" two polls), without waiting.
writeFileSync(join(stub, 'sleep'), `#!/bin/sh
[ "$MODE" = slow ] || exec /bin/sleep "$@"
echo "sleep $*" >> "$LOG"
[ "$(grep -c '^sleep' "$LOG")" = 2 ] && { printf 'FLANNEL_SUBNET=10.244.5.1/24\\n' > "$SF.tmp"; mv "$SF.tmp" "$SF"; }
exit 0
`);
for (const f of ['curl', 'supervisorctl', 'ip', 'sleep']) chmodSync(join(stub, f), 0o755);
writeFileSync(join(tmp, 'true.xml'), response('<boolean>1</boolean>'));
writeFileSync(join(tmp, 'running.xml'), info('RUNNING'));
writeFileSync(join(tmp, 'stopped.xml'), info('STOPPED'));
writeFileSync(join(tmp, 'notrunning.xml'), fault(10, 'NOT_RUNNING: flanneld'));

function ctl(shell: string, action: 'start' | 'stop', mode: string, afterStop: string[][] = [], env: Record<string, string> = {}) {
  writeFileSync(join(tmp, 'log'), '');
  rmSync(SF, { force: true });
  rmSync(join(tmp, 'stopped'), { force: true });
  if (action === 'stop') writeFileSync(join(tmp, 'stopped'), ''); // the stop "happens" at once
  const script = withSupervisorConf(ctlScript(afterStop), CONF);
  const r = spawnSync(shell, ['-s', '--', CTL_MARKER, 'supervisord', action, SF, '5', '2401', '-'], {
    input: script,
    env: { ...process.env, PATH: `${stub}:${process.env.PATH}`, LOG: join(tmp, 'log'), MODE: mode, SF, DIR: tmp, ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { code: r.status, out: parseCtlOutput(r.stdout), log: readFileSync(join(tmp, 'log'), 'utf8').trim().split('\n').filter(Boolean) };
}

describe.each(['dash', 'bash'])('%s: flanneld-ctl against stub supervisord answers', (shell) => {
  it('start through XML-RPC: no probe call before startProcess, ready once subnet.env is rewritten and /healthz answers, the state not read twice at the end', () => {
    const r = ctl(shell, 'start', 'xmlrpc');
    expect(r.code).toBe(0);
    expect(r.out).toMatchObject({ result: 'ready', via: 'xmlrpc', state: 'RUNNING', healthz: 'ok' });
    expect(r.out.subnetEnv).toBe('FLANNEL_SUBNET=10.244.5.1/24\n');
    expect(r.log[0]).toBe('curl startProcess');
    // One state read: in the poll that saw subnet.env rewritten (none right after a startProcess that said
    // true, none again at the end).
    expect(r.log.filter((l) => l === 'curl getProcessInfo')).toHaveLength(1);
    expect(r.log).not.toContain('supervisorctl start flanneld');
  });

  it('start through XML-RPC, subnet.env a few polls later: no state read right after startProcess said true', () => {
    const r = ctl(shell, 'start', 'slow');
    expect(r.out).toMatchObject({ result: 'ready', via: 'xmlrpc', state: 'RUNNING', healthz: 'ok' });
    expect(r.log.filter((l) => l.startsWith('curl '))).toEqual(['curl startProcess', 'curl getProcessInfo']);
  });

  it('a socket that does not answer XML-RPC: the start falls back to supervisorctl and says so', () => {
    const r = ctl(shell, 'start', 'garbage');
    expect(r.out).toMatchObject({ result: 'ready', via: 'supervisorctl', state: 'RUNNING' });
    expect(r.log.slice(0, 2)).toEqual(['curl startProcess', 'supervisorctl start flanneld']);
    expect(r.log.filter((l) => l.startsWith('curl ') && l !== 'curl startProcess')).toEqual([]);
  });

  it('stop: stopProcess (wait=true) answering true is the STOPPED state: no state read after it', () => {
    const r = ctl(shell, 'stop', 'xmlrpc', [['true']]);
    expect(r.out).toMatchObject({ result: 'stopped', via: 'xmlrpc', state: 'STOPPED' });
    expect(r.out.actions).toEqual([{ code: 0, stderr: '' }]);
    expect(r.log.filter((l) => l.startsWith('curl '))).toEqual(['curl stopProcess']);
  });

  it('stop: NOT_RUNNING is no error; the cleanup runs once flanneld is down, each result reported', () => {
    const r = ctl(shell, 'stop', 'notrunning', [['true'], ['sh', '-c', 'echo "one\ntwo" >&2; exit 2']]);
    expect(r.out).toMatchObject({ result: 'stopped', via: 'xmlrpc', state: 'STOPPED' });
    expect(r.log.filter((l) => l.startsWith('curl '))).toEqual(['curl stopProcess', 'curl getProcessInfo']); // a fault: the state is read
    expect(r.out.actions).toEqual([{ code: 0, stderr: '' }, { code: 2, stderr: 'one two' }]);
    const garbage = ctl(shell, 'stop', 'garbage');
    expect(garbage.out).toMatchObject({ result: 'stopped', via: 'supervisorctl' });
    expect(garbage.log).toContain('supervisorctl stop flanneld');
    expect(existsSync(SF)).toBe(false);
  });

  it('consecutive ip cleanup commands run in one ip -force -batch; each still gets its own result, in order', () => {
    const del = (what: string) => ['ip', 'route', 'del', what, 'via', '10.77.1.12', 'dev', 'eth0'];
    const r = ctl(shell, 'stop', 'notrunning', [del('10.244.1.0/24'), del('fail-two'), del('fail-missing'), del('10.244.4.0/24'), ['ip', 'link', 'del', "odd'name"], ['sh', '-c', 'echo gone >&2; exit 3']]);
    expect(r.out.result).toBe('stopped');
    expect(r.out.actions).toEqual([
      { code: 0, stderr: '' },
      { code: 1, stderr: 'Error: first second line' },
      { code: 1, stderr: 'RTNETLINK answers: No such process' },
      { code: 0, stderr: '' },
      { code: 0, stderr: '' },
      { code: 3, stderr: 'gone' },
    ]);
    // One ip process for the four routes; the odd name is run on its own, quoted.
    expect(r.log.filter((l) => l.startsWith('ip -force -batch'))).toHaveLength(1);
    expect(r.log).toContain('  route del fail-missing via 10.77.1.12 dev eth0');
    expect(r.log).toContain("ip link del odd'name");
  });

  it('an ip without -batch (fails naming no line): each command runs on its own, with its own result', () => {
    const r = ctl(shell, 'stop', 'notrunning', [['ip', 'route', 'del', '10.244.1.0/24'], ['ip', 'route', 'del', 'fail-here'], ['ip', 'route', 'del', '10.244.3.0/24']], { IPDIE: '1' });
    expect(r.out.actions).toEqual([
      { code: 0, stderr: '' },
      { code: 1, stderr: 'Cannot find device "x"' },
      { code: 0, stderr: '' },
    ]);
    expect(r.log.filter((l) => l.startsWith('ip route del'))).toEqual(['ip route del 10.244.1.0/24', 'ip route del fail-here', 'ip route del 10.244.3.0/24']);
  });
});
