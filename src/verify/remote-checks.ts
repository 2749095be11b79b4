/**
 * Checks that run their own (read-only) command on the node: flanneld's service state, flanctl's
 * iptables rules (`iptables -C`), flanneld's /healthz, and the flanneld certificate's expiry.
 * Each returns {node, name, ok, detail} and never throws.
 */
import { X509Certificate } from 'node:crypto';
import type { Connector } from '../connector/connector.js';
import type { Inventory, NodeSpec } from '../model/inventory.js';
import { iptablesCheckArgv, ruleText, type IptablesRule } from '../steps/iptables.js';
import { probeHealthz, settledSupervisorStatus, settledSystemdActive, supervisorStatusArgv } from '../steps/service.js';
import { SUPERVISORD_PROGRAMS } from '../model/templates.js';
import { fail, pass, type Check } from './checks.js';

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));
const lastLine = (s: string) => s.trim().split('\n').pop() ?? '';

export async function checkService(conn: Connector, inv: Inventory, node: NodeSpec): Promise<Check> {
  try {
    if (inv.flannel.service === 'systemd') {
      // The same "up" as bootstrap's service step: a transient state is waited for, not judged.
      const state = await settledSystemdActive(conn);
      return state === 'active' ? pass(node.name, 'service', 'flanneld active (systemd)') : fail(node.name, 'service', `flanneld ${state} (systemd)`);
    }
    const F = SUPERVISORD_PROGRAMS.flanneld;
    const { state } = (await settledSupervisorStatus(conn, [F]))[F];
    if (state === 'RUNNING') return pass(node.name, 'service', `flanneld RUNNING (supervisord)`);
    const r = await conn.exec(supervisorStatusArgv([F]));
    if (state === 'MISSING') return fail(node.name, 'service', `supervisorctl status ${F}: ${lastLine(r.stdout || r.stderr) || `exit ${r.code}`}`);
    const line = r.stdout.split('\n').find((l) => l.startsWith(`${F} `))?.trim() ?? `${F} ${state}`;
    return fail(node.name, 'service', `flanneld ${line.split(/\s+/).slice(1).join(' ')} (supervisord)`);
  } catch (err) {
    return fail(node.name, 'service', message(err));
  }
}

/** Every `ensure` rule exists and no `absent` rule does (`iptables -C`, never parsing -S). */
export async function checkIptables(conn: Connector, node: NodeSpec, rules: { ensure: IptablesRule[]; absent: IptablesRule[] }, mode: string): Promise<Check> {
  if (!rules.ensure.length && !rules.absent.length) return pass(node.name, 'iptables', `no flanctl rules for masquerade: ${mode}`);
  try {
    const problems: string[] = [];
    for (const [rule, want] of [...rules.ensure.map((r) => [r, true] as const), ...rules.absent.map((r) => [r, false] as const)]) {
      const r = await conn.exec(iptablesCheckArgv(rule));
      if (r.code === 127) return fail(node.name, 'iptables', 'iptables not found on the node');
      const present = r.code === 0;
      if (present !== want) problems.push(`${want ? 'missing' : 'unwanted'} ${ruleText(rule)}`);
    }
    return problems.length
      ? fail(node.name, 'iptables', problems.join('; '))
      : pass(node.name, 'iptables', `${rules.ensure.length} flanctl rule${rules.ensure.length === 1 ? '' : 's'} present (${mode})`);
  } catch (err) {
    return fail(node.name, 'iptables', message(err));
  }
}

export async function checkHealthz(conn: Connector, node: NodeSpec, host: string, port: number): Promise<Check> {
  const url = `http://${host}:${port}/healthz`;
  try {
    const { client, rc, status, code } = await probeHealthz(conn, host, port);
    if (client === 'none') return { ...pass(node.name, 'healthz', 'skipped: no http client (curl or wget) on the node'), skipped: true };
    if (rc === '0' && status === '200') return pass(node.name, 'healthz', `${url} answered 200`);
    if (rc === '0') return fail(node.name, 'healthz', `${url} answered ${status}`);
    return fail(node.name, 'healthz', `${url}: no answer (${client} exit ${rc ?? code})`);
  } catch (err) {
    return fail(node.name, 'healthz', message(err));
  }
}

/** The flanneld certificate, read from the node, expires in more than warnDays. */
export async function checkCert(conn: Connector, node: NodeSpec, path: string, warnDays: number, now = Date.now()): Promise<Check> {
  try {
    const pem = await conn.read(path);
    if (!pem) return fail(node.name, 'cert', `${path} not found`);
    return certExpiryCheck(node.name, path, pem, warnDays, now);
  } catch (err) {
    return fail(node.name, 'cert', `${path}: ${message(err)}`);
  }
}

export function certExpiryCheck(nodeName: string, path: string, pem: string | Buffer, warnDays: number, now = Date.now()): Check {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch (err) {
    return fail(nodeName, 'cert', `${path}: not a certificate (${message(err)})`);
  }
  const until = new Date(cert.validTo).getTime();
  const days = Math.floor((until - now) / 86_400_000);
  const date = new Date(until).toISOString().slice(0, 10);
  if (until <= now) return fail(nodeName, 'cert', `${path} expired on ${date}`);
  if (days < warnDays) return fail(nodeName, 'cert', `${path} expires in ${days} day${days === 1 ? '' : 's'} (${date}), under --warn-days ${warnDays}`);
  return pass(nodeName, 'cert', `${path} valid for ${days} more days (${date})`);
}
