/**
 * Where flanctl puts things on a node, flanneld's command line, and the files rendered from
 * templates/*.hbs (systemd unit, supervisord program, iptables script). Pure: no I/O besides
 * reading the templates once.
 */
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { createRequire } from 'node:module';
import type HandlebarsNS from 'handlebars';
import type { Inventory, NodeSpec } from './inventory.js';
import { openBackendRules } from './firewall.js';

export const SYSTEMD_UNIT_PATH = '/etc/systemd/system/flanneld.service';
/** systemd: the iptables guard (oneshot after flanneld + docker, re-run by a timer), same role as the supervisord watcher. */
export const SYSTEMD_GUARD_UNITS = {
  service: '/etc/systemd/system/flanctl-iptables.service',
  timer: '/etc/systemd/system/flanctl-iptables.timer',
} as const;
/** The symlinks `systemctl enable` makes for the guard units (their WantedBy targets). */
export const SYSTEMD_GUARD_LINKS = [
  '/etc/systemd/system/multi-user.target.wants/flanctl-iptables.service',
  '/etc/systemd/system/timers.target.wants/flanctl-iptables.timer',
] as const;
/** Debian/Ubuntu include dir first, then the RHEL one (hdss7 course: /etc/supervisord.d/*.ini). */
export const SUPERVISORD_CONF_CANDIDATES = [
  { dir: '/etc/supervisor/conf.d', path: '/etc/supervisor/conf.d/flanneld.conf' },
  { dir: '/etc/supervisord.d', path: '/etc/supervisord.d/flanneld.ini' },
] as const;
export const SYSCTL_CONF_PATH = '/etc/sysctl.d/90-flanctl.conf';
/** supervisord programs flanctl defines. */
export const SUPERVISORD_PROGRAMS = { flanneld: 'flanneld', iptables: 'flanctl-iptables' } as const;
/** Seconds between re-applications of the iptables rules under supervisord. */
export const IPTABLES_WATCH_SECONDS = 30;

export interface RemotePaths {
  ca: string;
  cert: string;
  key: string;
  flanneld: string;
  mkDockerOpts: string;
  iptablesScript: string;
  iptablesState: string;
  systemdUnit: string;
  logFile: string;
  subnetFile: string;
}

export function remotePaths(inv: Inventory): RemotePaths {
  const { configDir, installDir, logDir, subnetFile } = inv.flannel;
  return {
    ca: posix.join(configDir, 'ca.pem'),
    cert: posix.join(configDir, 'flanneld.pem'),
    key: posix.join(configDir, 'flanneld-key.pem'),
    flanneld: posix.join(installDir, 'flanneld'),
    mkDockerOpts: posix.join(installDir, 'mk-docker-opts.sh'),
    iptablesScript: posix.join(installDir, 'flanctl-iptables.sh'),
    iptablesState: posix.join(posix.dirname(subnetFile), 'flanctl-iptables.state'),
    systemdUnit: SYSTEMD_UNIT_PATH,
    logFile: posix.join(logDir, 'flanneld.log'),
    subnetFile,
  };
}

/** flanneld talks TLS to etcd: give it all three files or none (FLANNEL.md §1 "etcd TLS"). */
export const etcdUsesTls = (inv: Inventory) => inv.etcd.endpoints.some((e) => e.startsWith('https://'));

/** flanctl (not flanneld) owns the FORWARD ACCEPT rules unless flanneld does the masquerading. */
export const flanctlOwnsForwardRules = (inv: Inventory) => inv.iptables.masquerade !== 'flannel' && inv.iptables.forwardAccept;
/** flanctl installs an iptables script at all (tightened masquerade or its own FORWARD rules). */
export const flanctlManagesIptables = (inv: Inventory) => inv.iptables.masquerade === 'tightened' || flanctlOwnsForwardRules(inv) || inv.iptables.openBackend;

/** flanneld's flags from the inventory (FLANNEL.md §3), one `-flag=value` per element. */
export function flanneldArgs(inv: Inventory, node: NodeSpec): string[] {
  const p = remotePaths(inv);
  const args = [`-etcd-endpoints=${inv.etcd.endpoints.map((e) => e.replace(/\/$/, '')).join(',')}`, `-etcd-prefix=${inv.etcd.prefix}`];
  if (etcdUsesTls(inv)) args.push(`-etcd-cafile=${p.ca}`, `-etcd-certfile=${p.cert}`, `-etcd-keyfile=${p.key}`);
  args.push(`-iface=${node.iface}`, `-public-ip=${node.publicIp}`, `-subnet-file=${inv.flannel.subnetFile}`);
  if (inv.ipMasq) args.push('-ip-masq');
  if (inv.flannel.healthzPort > 0) args.push(`-healthz-port=${inv.flannel.healthzPort}`);
  args.push(`-subnet-lease-renew-margin=${inv.flannel.subnetLeaseRenewMargin}`);
  // flanneld adds FLANNEL-FWD ACCEPT rules by default; turn that off where flanctl owns FORWARD
  // (tightened/none) or the operator wants no ACCEPT rules at all.
  const flanneldForward = inv.iptables.masquerade === 'flannel' && inv.iptables.forwardAccept;
  if (!flanneldForward) args.push('-iptables-forward-rules=false');
  return args;
}

const templateDir = new URL('../../templates/', import.meta.url);
// handlebars is loaded on the first render, not at start-up (verify imports this module for its paths).
let hb: typeof HandlebarsNS | undefined;
const handlebars = () => (hb ??= createRequire(import.meta.url)('handlebars') as typeof HandlebarsNS);
const compiled = new Map<string, HandlebarsNS.TemplateDelegate>();

function render(name: string, data: object): string {
  let t = compiled.get(name);
  if (!t) {
    t = handlebars().compile(readFileSync(new URL(name, templateDir), 'utf8'), { noEscape: true, strict: true });
    compiled.set(name, t);
  }
  return t(data);
}

export interface UnitOptions {
  /** The tarball has mk-docker-opts.sh (the ExecStartPost needs it). */
  hasMkDockerOpts: boolean;
}

/** templates/flanneld.service.hbs: opsnull-guide style systemd unit. */
export function renderSystemdUnit(inv: Inventory, node: NodeSpec, opts: UnitOptions): string {
  const p = remotePaths(inv);
  return render('flanneld.service.hbs', {
    path: p.systemdUnit,
    flanneld: p.flanneld,
    args: flanneldArgs(inv, node),
    dockerOpts: inv.flannel.dockerOpts && opts.hasMkDockerOpts,
    mkDockerOpts: p.mkDockerOpts,
    dockerOptsFile: inv.flannel.dockerOptsFile,
    iptablesScript: flanctlManagesIptables(inv) ? p.iptablesScript : '',
  });
}

/** templates/flanneld.supervisord.conf.hbs: hdss7-course style program (+ the iptables watcher). */
export function renderSupervisordConf(inv: Inventory, node: NodeSpec, path: string = SUPERVISORD_CONF_CANDIDATES[0].path): string {
  const p = remotePaths(inv);
  return render('flanneld.supervisord.conf.hbs', {
    path,
    flanneld: p.flanneld,
    args: flanneldArgs(inv, node),
    installDir: inv.flannel.installDir,
    logDir: inv.flannel.logDir,
    iptablesScript: flanctlManagesIptables(inv) ? p.iptablesScript : '',
    iptablesInterval: IPTABLES_WATCH_SECONDS,
  });
}

/** templates/flanctl-iptables.{service,timer}.hbs: systemd's counterpart of the supervisord watcher. */
export function renderGuardUnit(inv: Inventory, which: keyof typeof SYSTEMD_GUARD_UNITS): string {
  return render(`flanctl-iptables.${which}.hbs`, {
    path: SYSTEMD_GUARD_UNITS[which],
    iptablesScript: remotePaths(inv).iptablesScript,
    interval: IPTABLES_WATCH_SECONDS,
  });
}

/** templates/flanctl-iptables.sh.hbs: applies flanctl's rules from subnet.env, idempotently. */
export function renderIptablesScript(inv: Inventory): string {
  const p = remotePaths(inv);
  return render('flanctl-iptables.sh.hbs', {
    path: p.iptablesScript,
    masquerade: inv.iptables.masquerade,
    forwardAccept: inv.iptables.forwardAccept,
    tightened: inv.iptables.masquerade === 'tightened',
    forwardRules: flanctlOwnsForwardRules(inv),
    subnetFile: inv.flannel.subnetFile,
    network: inv.network.cidr,
    bridge: inv.iptables.bridge,
    stateFile: p.iptablesState,
    openRules: openBackendRules(inv).map((r) => ['filter', r.chain, ...r.spec].join(' ')),
  });
}

/** The sysctl.d drop-in: flanneld does not enable forwarding itself (FLANNEL.md §9). */
export function renderSysctlConf(): string {
  return '# Managed by flanctl: flanneld needs IP forwarding for traffic to containers behind this node.\nnet.ipv4.ip_forward = 1\n';
}

/**
 * Light structural check of an INI / unit file before it is written (one bad file in conf.d breaks
 * `supervisorctl reread` for every program): sections, key=value lines, continuations, comments.
 */
export function iniProblems(text: string): string[] {
  const problems: string[] = [];
  let section = '';
  let continued = false;
  text.split('\n').forEach((line, i) => {
    const wasContinued = continued;
    continued = /\\$/.test(line);
    if (wasContinued || /^\s*([#;].*)?$/.test(line)) return;
    const sec = /^\[([^\]]+)\]\s*$/.exec(line);
    if (sec) {
      section = sec[1];
      return;
    }
    if (!section) problems.push(`line ${i + 1}: outside any [section]`);
    else if (!/^[A-Za-z][A-Za-z0-9_]*\s*=/.test(line)) problems.push(`line ${i + 1}: expected key=value: ${line}`);
  });
  return problems;
}
