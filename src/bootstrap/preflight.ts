/**
 * Preflight (issue 4 item 3): before any change anywhere, collect EVERY problem at once, per node
 * and on the control side; any problem → exit 1 listing them all, nothing changed on any host.
 * Checks: node reachable with a trusted host key; root or passwordless sudo; `ip` and `iptables`
 * present; the service manager present; br_netfilter and the backend's module loaded/built in or
 * loadable (`modprobe -n`); the iface exists and carries the public IP; etcd reachable with the
 * flanneld cert (issued first from pki when missing — on the control machine only); the tarball
 * exists and contains flanneld.
 * One round trip per node (issue 15): once connected, every read-only command of the checks (and
 * of the free-space check, and the caller's `reads`, e.g. the steps' own) is fetched in one batch
 * (connector/facts.ts); the checks below then run unchanged and are answered from it.
 */
import type { Connector } from '../connector/connector.js';
import { FlanctlError, errorMessage } from '../errors.js';
import type { Inventory, NodeSpec } from '../model/inventory.js';
import type { Kv } from '../kv/kv.js';
import { configKey } from '../model/leases.js';
import { mapLimit } from '../engine/parallel.js';
import { trace } from '../engine/trace.js';
import { moduleAvailable, moduleLoadable, moduleReads, requiredModules } from '../steps/modules.js';
import { isFactSource } from '../connector/facts.js';
import { supervisordUnreachable, supervisorStatusArgv } from '../steps/service-state.js';
import { SUPERVISORD_PROGRAMS, flanctlManagesIptables } from '../model/templates.js';
import type { FlannelTarball } from './tarball.js';
import { firewallProblems } from './firewall-check.js';
import { backendTraffic } from '../model/firewall.js';
import { shortageText, spaceArgv, spaceShortages, type SpaceNeed } from '../steps/space.js';

export interface PreflightProblem {
  /** Node name, "etcd", "pki" or "tarball". */
  target: string;
  message: string;
}

export class PreflightError extends FlanctlError {
  readonly problems: PreflightProblem[];
  constructor(problems: PreflightProblem[]) {
    const byTarget = new Map<string, string[]>();
    for (const p of problems) byTarget.set(p.target, [...(byTarget.get(p.target) ?? []), p.message]);
    const lines = [...byTarget].map(([t, msgs]) => `  ${t}:\n${msgs.map((m) => `    - ${m.split('\n').join('\n      ')}`).join('\n')}`);
    super(`preflight found ${problems.length} problem${problems.length === 1 ? '' : 's'}; nothing was changed:\n${lines.join('\n')}`, {
      hint: 'Fix these and run the command again. `--trust-new-hosts` records unknown host keys (a changed key is always refused).',
    });
    this.problems = problems;
  }
}

export interface PreflightDeps {
  connect(node: NodeSpec): Promise<Connector>;
  openKv(): Promise<Kv>;
  /** Issue the flanneld client cert from the pki CA when it is missing (control machine only). */
  ensureCert?(): Promise<unknown>;
  readTarball(): Promise<FlannelTarball>;
  concurrency: number;
  /** What the run writes on each node (paths and sizes), checked against the free space there. */
  spaceNeeds?(tarball: FlannelTarball): SpaceNeed[];
  /** The paths spaceNeeds will name, known before the tarball is read (the batch asks the space check with them). */
  spacePaths?(): string[];
  /**
   * More read-only commands to fetch in the node's one batch (the steps' reads, so their checks need
   * no round trip). Asked once etcd answered, without waiting for the tarball: reads name paths only.
   */
  reads?(node: NodeSpec, got: { kv?: Kv }): Promise<string[][]>;
}

export interface PreflightResult {
  problems: PreflightProblem[];
  kv?: Kv;
  tarball?: FlannelTarball;
}

/** The same argv as the service step's check (steps/service.ts), so the batch answers both. */
const supervisorctlStatusArgv = (inv: Inventory) => supervisorStatusArgv([SUPERVISORD_PROGRAMS.flanneld, ...(flanctlManagesIptables(inv) ? [SUPERVISORD_PROGRAMS.iptables] : [])]);

/** exit 127: the shell (ssh) or spawn (local) did not find the command. */
const missing = (r: { code: number }) => r.code === 127;

/** Every read-only command checkNode() may run (firewalld's follow-up questions aside). */
export function preflightReads(inv: Inventory, node: NodeSpec): string[][] {
  const traffic = backendTraffic(inv);
  return [
    ['id', '-u'],
    ['ip', '-V'],
    ['iptables', '--version'],
    inv.flannel.service === 'systemd' ? ['systemctl', '--version'] : supervisorctlStatusArgv(inv),
    ...requiredModules(inv).flatMap((m) => [...moduleReads(m), ['modprobe', '-n', '-q', m]]),
    ['ip', '-o', '-4', 'addr', 'show', 'dev', node.iface],
    ...[...(traffic.input ? ['INPUT'] : []), 'FORWARD'].map((chain) => ['iptables', '-w', '5', '-t', 'filter', '-S', chain]),
    ['firewall-cmd', '--state'],
  ];
}

export async function checkNode(inv: Inventory, node: NodeSpec, conn: Connector): Promise<string[]> {
  const problems: string[] = [];
  const id = await conn.exec(['id', '-u']);
  if (id.code !== 0 || id.stdout.trim() !== '0') {
    problems.push(
      inv.ssh.user === 'root'
        ? `commands do not run as root (id -u: ${id.stdout.trim() || id.stderr.trim() || `exit ${id.code}`})`
        : `${inv.ssh.user} has no passwordless sudo (sudo -n: ${(id.stderr || id.stdout).trim() || `exit ${id.code}`})`,
    );
    return problems; // every other check would fail the same way
  }
  // Independent checks run concurrently over the one connection; problems keep this order.
  const checks: Array<Promise<string[]>> = [
    conn.exec(['ip', '-V']).then((r) => (missing(r) ? ['`ip` (iproute2) is not installed'] : [])),
    conn.exec(['iptables', '--version']).then((r) => (missing(r) ? ['`iptables` is not installed'] : [])),
    inv.flannel.service === 'systemd'
      ? conn.exec(['systemctl', '--version']).then((r) => (missing(r) ? ['`systemctl` not found, but flannel.service is systemd'] : []))
      : // The service step's own read (one python start-up fewer per node). Its exit code says nothing here
        // (3: not running, 4: no such program, 4: no supervisord): a line per program means supervisord answered.
        conn.exec(supervisorctlStatusArgv(inv)).then((r) => {
          if (missing(r)) return ['`supervisorctl` not found, but flannel.service is supervisord'];
          const answered = /^\S+?:?\s+(ERROR \(no such process\)|[A-Z]{4,}\b)/m.test(r.stdout);
          if (supervisordUnreachable(r) || !answered) return [`supervisord is not running (supervisorctl status: ${(r.stdout + r.stderr).trim() || `exit ${r.code}`})`];
          return [];
        }),
    ...requiredModules(inv).map(async (m) =>
      (await moduleAvailable(conn, m)) || (await moduleLoadable(conn, m))
        ? []
        : [`kernel module ${m} is neither loaded, built in nor loadable (modprobe -n ${m}; without a /sys/module view, creating a ${m} device failed too)`],
    ),
    conn.exec(['ip', '-o', '-4', 'addr', 'show', 'dev', node.iface]).then((addr) => {
      if (addr.code !== 0) return [`interface ${node.iface} does not exist (nodes[].iface)`];
      const ips = [...addr.stdout.matchAll(/\binet (\d+\.\d+\.\d+\.\d+)\//g)].map((m) => m[1]);
      return ips.includes(node.publicIp) ? [] : [`interface ${node.iface} does not carry the public IP ${node.publicIp} (it has ${ips.join(', ') || 'no IPv4 address'}; nodes[].publicIp / iface)`];
    }),
    firewallProblems(inv, node, conn),
  ];
  for (const found of await Promise.all(checks)) problems.push(...found);
  return problems;
}

export async function preflight(inv: Inventory, deps: PreflightDeps): Promise<PreflightResult> {
  const problems: PreflightProblem[] = [];
  const result: PreflightResult = { problems };

  // The tarball and etcd are read at the same time; their problems are reported in this order
  // whichever finishes first.
  const found: Record<'tarball' | 'pki' | 'etcd', PreflightProblem[]> = { tarball: [], pki: [], etcd: [] };
  const tarballRead = deps.readTarball().then(
    (t) => void ((result.tarball = t), trace('preflight: tarball read')),
    (e) => void found.tarball.push({ target: 'tarball', message: errorMessage(e) }),
  );
  const etcd = (async () => {
    if (deps.ensureCert) {
      try {
        await deps.ensureCert();
      } catch (e) {
        found.pki.push({ target: 'pki', message: errorMessage(e) });
        return; // etcd cannot be reached without the cert
      }
    }
    try {
      const kv = await deps.openKv();
      result.kv = kv;
      await kv.get(configKey(inv.etcd.prefix));
      trace('preflight: etcd answered');
    } catch (e) {
      found.etcd.push({ target: 'etcd', message: `not reachable with the flanneld certificate: ${errorMessage(e)}` });
    }
  })();
  const control = Promise.all([tarballRead, etcd]).then(() => problems.push(...found.tarball, ...found.pki, ...found.etcd));

  // The same for every node: asked once (it reads the certificates for their sizes).
  let spacePaths: string[] | undefined;
  const nodes = mapLimit(inv.nodes, deps.concurrency, async (node) => {
    let conn: Connector;
    try {
      conn = await deps.connect(node);
      trace(`preflight: ${node.name} connected`);
    } catch (e) {
      return [errorMessage(e)];
    }
    if (isFactSource(conn)) {
      // etcd first (the steps' reads name the node's lease subnet): usually there before the handshake ends.
      await etcd;
      const more = (await deps.reads?.(node, { kv: result.kv }).catch(() => [])) ?? [];
      const paths = (spacePaths ??= deps.spacePaths?.() ?? []);
      const space = paths.length ? [spaceArgv(paths)] : [];
      await conn.prefetch([...preflightReads(inv, node), ...space, ...more]).catch(() => {});
      trace(`preflight: ${node.name} batch answered`);
    }
    try {
      return await checkNode(inv, node, conn);
    } catch (e) {
      return [errorMessage(e)];
    } finally {
      // Without the caller's reads nothing is left for a converge to use: drop preflight's leftovers.
      if (!deps.reads && isFactSource(conn)) conn.forget();
    }
  });

  await control;
  const perNode = await nodes;
  const needs = result.tarball && deps.spaceNeeds?.(result.tarball);
  if (needs?.length) {
    // Only nodes that passed their checks; a failure to ask is not a problem of its own.
    const space = await mapLimit(inv.nodes, deps.concurrency, async (node, i) => {
      if (!perNode[i].ok || perNode[i].value.length) return [];
      return (await spaceShortages(await deps.connect(node), needs)).map(shortageText);
    });
    space.forEach((r, i) => {
      if (r.ok && perNode[i].ok) perNode[i].value.push(...r.value);
    });
  }
  perNode.forEach((r, i) => {
    const msgs = r.ok ? r.value : [errorMessage(r.error)];
    for (const message of msgs) problems.push({ target: inv.nodes[i].name, message });
  });
  // Nodes first, in inventory order, then the control side.
  const order = new Map(inv.nodes.map((n, i) => [n.name, i]));
  problems.sort((a, b) => (order.get(a.target) ?? 1e6) - (order.get(b.target) ?? 1e6));
  return result;
}
