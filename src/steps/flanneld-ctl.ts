/**
 * Stop / start / restart flanneld and wait until it is ready, in one round trip per node
 * (flanneld-ctl.sh.ts is the remote script). Readiness comes from flanneld itself: subnet.env
 * rewritten since the (re)start, the service up (systemd `active` = flanneld's READY=1 under
 * Type=notify), /healthz answering when a port is set — polled on the node every 0.1 s, with a
 * timeout that says which of these is missing. No fixed waits (supervisord's startsecs is 1, only
 * to tell a crash loop from a start; startProcess(wait=false) does not wait for it).
 */
import type { Connector } from '../connector/connector.js';
import { shellQuote } from '../connector/quote.js';
import type { Inventory } from '../model/inventory.js';
import { CTL_MARKER, FLANNELD_CTL_SCRIPT } from './flanneld-ctl.sh.js';

export type CtlAction = 'stop' | 'start' | 'restart' | 'wait';

export interface CtlResult {
  /** ready / stopped: done; timeout, crash, error: not (why says what is missing). */
  result: 'ready' | 'stopped' | 'timeout' | 'crash' | 'error';
  why: string;
  /** How the service manager was driven: xmlrpc (supervisord's socket via curl), supervisorctl, systemd. */
  via: string;
  /** supervisord state name or `systemctl is-active` at the end. */
  state: string;
  /** subnet.env's "inode mtime" at the end ("none" when absent): the SINCE of a later wait. */
  token: string;
  /** /healthz: ok, none (no port or no client), or what answered. */
  healthz: string;
  /** Exits (BACKOFF/EXITED) seen while waiting. */
  backoffs: number;
  /** Time the script took on the node. */
  ms: number;
  /** After a stop: exit code and stderr of each `afterStop` command, in order. */
  actions: Array<{ code: number; stderr: string }>;
  /** Start / restart / wait: subnet.env's text at the end (undefined when absent). */
  subnetEnv?: string;
  /** Stop: `ip -j link show` and `ip -4 -j route show table main` after the afterStop commands. */
  links?: string;
  routes?: string;
}

export interface CtlOptions {
  timeoutMs: number;
  /** wait: the token read before flanneld was (re)started by someone else. */
  since?: string;
  /** stop: commands run right after flanneld is down, in the same round trip (cleanup). */
  afterStop?: string[][];
}

/** The argv of the ctl script (its stdin is the script); fakes match on the first four words. */
export function ctlArgv(inv: Inventory, action: CtlAction, opts: CtlOptions): string[] {
  return ['sh', '-s', '--', CTL_MARKER, inv.flannel.service, action, inv.flannel.subnetFile,
    String(Math.max(1, Math.ceil(opts.timeoutMs / 1000))), String(inv.flannel.healthzPort), opts.since ?? '-'];
}

/** An `ip` command that reads the same as a line of `ip -batch` (no option of ip's own, nothing to quote). */
const batchableIp = (a: string[]) => a[0] === 'ip' && a.length > 1 && !a[1].startsWith('-') && a.slice(1).every((w) => /^[\w./:@+,=-]+$/.test(w));

/**
 * after_stop: each cleanup command as `act_ ARGV`, except that consecutive `ip` commands (the routes of
 * a host-gw cluster: one per peer) run in one `ip -force -batch` (act_ipb), one process for all.
 */
export function ctlScript(afterStop: string[][] = []): string {
  const lines: string[] = [];
  for (let i = 0; i < afterStop.length; ) {
    let j = i;
    while (j < afterStop.length && batchableIp(afterStop[j])) j++;
    if (j - i >= 2) {
      lines.push(`  act_ipb ${j - i} <<'FLANCTL_IPB'`, ...afterStop.slice(i, j).map((a) => a.slice(1).join(' ')), 'FLANCTL_IPB');
      i = j;
    } else {
      lines.push(`  act_ ${shellQuote(afterStop[i])}`);
      i++;
    }
  }
  const fn = afterStop.length ? `after_stop() {\n${lines.join('\n')}\n}\n` : '';
  return `${fn}${FLANNELD_CTL_SCRIPT}`;
}

/** Parse the script's "@key value" lines and trailing sections. */
export function parseCtlOutput(stdout: string): CtlResult {
  const r: CtlResult = { result: 'error', why: '', via: '', state: 'unknown', token: 'none', healthz: 'none', backoffs: 0, ms: 0, actions: [] };
  const lines = stdout.split('\n');
  let section: 'subnetenv' | 'links' | 'routes' | undefined;
  const body: Record<string, string[]> = { subnetenv: [], links: [], routes: [] };
  let sawResult = false;
  for (const line of lines) {
    const m = /^@(\w+)(?: (.*))?$/.exec(line);
    if (m && ['subnetenv', 'links', 'routes'].includes(m[1]) && m[2] === undefined) {
      section = m[1] as typeof section;
      continue;
    }
    if (section) {
      body[section].push(line);
      continue;
    }
    if (!m) continue;
    const v = (m[2] ?? '').trim();
    switch (m[1]) {
      case 'result':
        sawResult = true;
        r.result = (['ready', 'stopped', 'timeout', 'crash', 'error'].includes(v) ? v : 'error') as CtlResult['result'];
        break;
      case 'why': r.why = v; break;
      case 'via': r.via = v; break;
      case 'state': r.state = v || 'unknown'; break;
      case 'token': r.token = v || 'none'; break;
      case 'healthz': r.healthz = v; break;
      case 'backoffs': r.backoffs = Number(v) || 0; break;
      case 'ms': r.ms = Number(v) || 0; break;
      case 'action': {
        const a = /^(\d+)\s?(.*)$/.exec(v);
        r.actions.push({ code: a ? Number(a[1]) : 1, stderr: a ? a[2] : v });
        break;
      }
    }
  }
  if (!sawResult) r.why = 'the control script printed no result';
  const text = (xs: string[]) => xs.join('\n').replace(/\n+$/, '');
  if (section === 'subnetenv' || body.subnetenv.length) r.subnetEnv = text(body.subnetenv) ? `${text(body.subnetenv)}\n` : undefined;
  if (body.links.length) r.links = text(body.links);
  if (body.routes.length) r.routes = text(body.routes);
  return r;
}

/** Run the ctl script once; never throws for flanneld's state (see result), only for SSH failures. */
export async function flanneldCtl(inv: Inventory, conn: Connector, action: CtlAction, opts: CtlOptions): Promise<CtlResult> {
  const r = await conn.exec(ctlArgv(inv, action, opts), { stdin: ctlScript(action === 'stop' ? opts.afterStop : []), timeoutMs: opts.timeoutMs + 90_000 });
  const parsed = parseCtlOutput(r.stdout);
  if (r.code !== 0 && parsed.result !== 'error') return { ...parsed, result: 'error', why: `control script exited ${r.code}: ${r.stderr.trim()}` };
  if (r.code !== 0 || !/^@result /m.test(r.stdout)) parsed.why ||= `control script exited ${r.code}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' ')}`;
  return parsed;
}

/** subnet.env's token now (the SINCE of a wait that follows a (re)start someone else does). */
export async function subnetEnvToken(inv: Inventory, conn: Connector): Promise<string> {
  const r = await conn.exec(['stat', '-c', '%i %y', inv.flannel.subnetFile]);
  return r.code === 0 ? r.stdout.trim() || 'none' : 'none';
}
