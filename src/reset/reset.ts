/**
 * src/reset/ owns `flanctl reset`: undoing what bootstrap installed, as Steps. It may import steps/
 * and below, and switch/'s device and route helpers.
 *
 * `flanctl reset` as Steps (src/step.ts), run through the engine like bootstrap: per node the
 * flanneld service and its unit/program file, flanctl's iptables rules and flanneld's FLANNEL-*
 * chains, flannel devices and routes inside the Network, then the files flanctl installed; in etcd
 * `<prefix>/config` and the leases (unless --keep-etcd). Every check observes first, so a second
 * reset reports no changes.
 */
import { posix } from 'node:path';
import { run, type Connector } from '../connector/connector.js';
import type { Inventory, NodeSpec } from '../model/inventory.js';
import { listLeases } from '../kv/flannel-keys.js';
import { configKey, subnetsPrefix } from '../model/leases.js';
import { parseSupervisorStatus, supervisorStatusArgv } from '../steps/service.js';
import { onNode, needKv } from '../steps/util.js';
import type { Change, Step } from '../engine/step.js';
import { cniFiles } from '../model/cni.js';
import { DOCKER_DROPIN_PATH } from '../model/docker.js';
import { SUPERVISORD_CONF_CANDIDATES, SUPERVISORD_PROGRAMS, SYSCTL_CONF_PATH, remotePaths } from '../model/templates.js';
import { PROBE_IFACE } from '../verify/targets.js';
import { MODULES_LOAD_PATH } from '../steps/modules.js';
import { litterStep } from '../steps/litter.js';
import { cleanupPlan, isMissingError } from '../switch/cleanup.js';
import { observeNode } from '../switch/plan.js';
import { systemdResetChange } from './reset-systemd.js';
import { iptablesCleanup, iptablesCleanupArgv, iptablesCleanupSummary, mergeCleanups } from './reset-iptables.js';
import { foreignTlsFiles } from './reset-tls.js';

async function existing(conn: Connector, paths: string[]): Promise<Map<string, 'file' | 'dir'>> {
  const out = new Map<string, 'file' | 'dir'>();
  if (!paths.length) return out;
  const r = await conn.exec(['stat', '-c', '%F|%n', '--', ...paths]);
  for (const line of r.stdout.split('\n')) {
    const i = line.indexOf('|');
    if (i > 0) out.set(line.slice(i + 1), line.slice(0, i) === 'directory' ? 'dir' : 'file');
  }
  return out;
}

/** Stops flanneld (and flanctl-iptables) and removes the unit / program file. */
export function resetServiceStep(inv: Inventory): Step {
  const id = 'reset:service';
  return {
    id,
    title: `flanneld service (${inv.flannel.service})`,
    async check(ctx): Promise<Change | undefined> {
      const { conn } = onNode(ctx, id);
      // The docker.service drop-in goes before the daemon-reload, or systemd keeps it loaded.
      if (inv.flannel.service === 'systemd') return systemdResetChange(conn, (paths) => existing(conn, paths), inv.docker.integration ? [DOCKER_DROPIN_PATH] : []);
      const names = [SUPERVISORD_PROGRAMS.flanneld, SUPERVISORD_PROGRAMS.iptables];
      const files = [...(await existing(conn, SUPERVISORD_CONF_CANDIDATES.map((c) => c.path))).keys()];
      const st = await conn.exec(supervisorStatusArgv(names));
      const known = st.code === 127 ? [] : Object.entries(parseSupervisorStatus(st.stdout, names)).filter(([, s]) => s.state !== 'MISSING').map(([n]) => n);
      if (!files.length && !known.length) return undefined;
      return {
        action: 'delete',
        summary: [known.length && `stop ${known.join(', ')}`, files.length && `remove ${files.join(', ')}`].filter(Boolean).join(', '),
        apply: async () => {
          if (known.length) await conn.exec(['supervisorctl', 'stop', ...known]);
          if (files.length) await run(conn, ['rm', '-f', '--', ...files]);
          await conn.exec(['supervisorctl', 'update']);
          const after = parseSupervisorStatus((await conn.exec(supervisorStatusArgv(names))).stdout, names);
          const left = names.filter((n) => after[n].state !== 'MISSING');
          if (left.length) throw new Error(`${conn.name}: supervisord still knows ${left.join(', ')} after update`);
        },
      };
    },
  };
}

/** flanctl's own iptables rules (by comment) and flanneld's FLANNEL-* chains. */
export function resetIptablesStep(): Step {
  const id = 'reset:iptables';
  return {
    id,
    title: 'iptables rules (flanctl) and FLANNEL-* chains',
    async check(ctx): Promise<Change | undefined> {
      const { conn } = onNode(ctx, id);
      const parts = [];
      for (const table of ['nat', 'filter'] as const) {
        const r = await conn.exec(['iptables', '-w', '5', '-t', table, '-S']);
        if (r.code === 127) return undefined; // no iptables: nothing flanctl could have added
        if (r.code !== 0) throw new Error(`${conn.name}: iptables -t ${table} -S exited ${r.code}: ${r.stderr.trim()}`);
        parts.push(iptablesCleanup(table, r.stdout));
      }
      const plan = mergeCleanups(parts);
      if (!plan.rules.length && !plan.chains.length) return undefined;
      return {
        action: 'delete',
        summary: `delete ${iptablesCleanupSummary(plan)}`,
        diff: { before: plan.rules.map((r) => `-t ${r.rule.table} -A ${r.rule.chain} ${r.rule.spec.join(' ')}`).join('\n'), after: '' },
        apply: async () => {
          for (const argv of iptablesCleanupArgv(plan)) await run(conn, argv);
        },
      };
    },
  };
}

/** Flannel devices (and verify's probe interface) and routes inside the Network. */
export function resetNetworkStep(inv: Inventory): Step {
  const id = 'reset:network';
  return {
    id,
    title: `flannel devices and routes inside ${inv.network.cidr}`,
    async check(ctx): Promise<Change | undefined> {
      const { conn } = onNode(ctx, id);
      const state = await observeNode(conn, undefined, false);
      const none = { type: 'none' };
      const plan = cleanupPlan(none, none, inv.network.cidr, { ...state, routes: state.routes });
      const probe = state.links.includes(PROBE_IFACE);
      const actions = [...plan.actions, ...(probe ? [{ argv: ['ip', 'link', 'del', PROBE_IFACE], summary: `delete ${PROBE_IFACE}`, okIfMissing: true }] : [])];
      if (!actions.length) return undefined;
      const what = [...plan.devices.map((d) => d.name), ...(probe ? [PROBE_IFACE] : [])];
      return {
        action: 'delete',
        summary: [what.length && `delete ${what.join(', ')}`, plan.routes.length && `${plan.routes.length} route(s)`].filter(Boolean).join(', '),
        diff: { before: plan.routes.map((r) => r.text).join('\n'), after: '' },
        apply: async () => {
          for (const a of actions) {
            const r = await conn.exec(a.argv);
            if (r.code !== 0 && !(a.okIfMissing && isMissingError(r.stderr))) throw new Error(`${conn.name}: \`${a.argv.join(' ')}\` exited ${r.code}: ${r.stderr.trim()}`);
          }
        },
      };
    },
  };
}

/** Every file flanctl (or flanneld under it) put on a node, and the folders that held only those. */
export function resetFileLists(inv: Inventory): { files: string[]; logDir: string; dirs: string[] } {
  const p = remotePaths(inv);
  const files = [p.flanneld, p.mkDockerOpts, p.iptablesScript, p.ca, p.cert, p.key, p.subnetFile, p.iptablesState, inv.flannel.dockerOptsFile, SYSCTL_CONF_PATH, MODULES_LOAD_PATH];
  // issue 17: CNI conflist and plugins, the docker.service drop-in (daemon.json is the user's: kept).
  files.push(...cniFiles(inv), ...(inv.docker.integration ? [DOCKER_DROPIN_PATH] : []));
  const { installDir, configDir, logDir } = inv.flannel;
  const dirs = [installDir, configDir, logDir, posix.dirname(inv.flannel.subnetFile), posix.dirname(inv.flannel.dockerOptsFile)];
  if (inv.cni.enabled) dirs.push(inv.cni.binDir, inv.cni.confDir);
  if (inv.docker.integration) dirs.push(posix.dirname(DOCKER_DROPIN_PATH));
  if (/flannel/.test(posix.basename(posix.dirname(installDir)))) dirs.push(posix.dirname(installDir));
  return { files: [...new Set(files)], logDir, dirs: [...new Set(dirs)].sort((a, b) => b.length - a.length) };
}

const LOG_FILE = /^(flanneld|flanctl-iptables)\.log(\.\d+)?$/;

export function resetFilesStep(inv: Inventory): Step {
  const id = 'reset:files';
  return {
    id,
    title: 'binaries, certs, subnet file, logs',
    async check(ctx): Promise<Change | undefined> {
      const { conn } = onNode(ctx, id);
      const lists = resetFileLists(inv);
      const found = await existing(conn, [...lists.files, ...lists.dirs]);
      const present = lists.files.filter((f) => found.get(f) === 'file');
      const foreign = await foreignTlsFiles(conn, inv, present); // only TLS files flanctl wrote go
      const files = present.filter((f) => !foreign.has(f));
      const entries = async (dir: string) => (await conn.exec(['ls', '-A', '--', dir])).stdout.split('\n').filter(Boolean).map((n) => posix.join(dir, n));
      if (found.get(lists.logDir) === 'dir') files.push(...(await entries(lists.logDir)).filter((f) => LOG_FILE.test(posix.basename(f))));
      const going = new Set(files);
      const dirs: string[] = [];
      for (const dir of lists.dirs) {
        if (found.get(dir) !== 'dir') continue;
        if ((await entries(dir)).every((e) => going.has(e))) {
          dirs.push(dir);
          going.add(dir);
        }
      }
      if (!files.length && !dirs.length) return undefined;
      return {
        action: 'delete',
        summary: `remove ${files.length} file(s)${dirs.length ? ` and ${dirs.join(', ')}` : ''}${[...foreign].map(([f, why]) => `; keep ${f} (${why})`).join('')}`,
        diff: { before: [...files, ...dirs.map((d) => `${d}/`)].join('\n'), after: '' },
        apply: async () => {
          if (files.length) await run(conn, ['rm', '-f', '--', ...files]);
          for (const d of dirs) await run(conn, ['rmdir', '--', d]);
        },
      };
    },
  };
}

export function resetNodeSteps(inv: Inventory): Step[] {
  return [litterStep(inv), resetServiceStep(inv), resetIptablesStep(), resetNetworkStep(inv), resetFilesStep(inv)];
}

/**
 * `<prefix>/config` and every lease under `<prefix>/subnets/`; with `only` (reset --limit, node remove)
 * just the leases of those nodes (by PublicIP), so their subnets return to the pool.
 */
export function resetEtcdStep(inv: Inventory, only?: NodeSpec[]): Step {
  const id = 'reset:etcd';
  return {
    id,
    title: only ? `leases of ${only.map((n) => n.name).join(', ')}` : `${inv.etcd.prefix}/config and leases`,
    async check(ctx): Promise<Change | undefined> {
      const kv = needKv(ctx, id);
      const key = configKey(inv.etcd.prefix);
      const ips = only && new Set(only.map((n) => n.publicIp));
      const keys = ips
        ? (await listLeases(kv, inv.etcd.prefix)).filter((l) => ips.has(l.publicIp)).map((l) => l.key)
        : [...((await kv.get(key)) !== undefined ? [key] : []), ...(await kv.list(subnetsPrefix(inv.etcd.prefix))).map((e) => e.key)];
      if (!keys.length) return undefined;
      return {
        action: 'delete',
        summary: `delete ${keys.length} key(s) (${keys.length - (keys[0] === key ? 1 : 0)} lease(s))`,
        diff: { before: keys.join('\n'), after: '' },
        apply: async () => {
          for (const k of keys) await kv.delete(k);
        },
      };
    },
  };
}
