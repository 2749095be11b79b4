/**
 * flanneld's command line (FLANNEL.md §3), parsed like Go's `flag` package: `-flag=v`, `-flag v`,
 * `--flag=v`, `--flag v`; booleans take a value only with `=`; parsing stops at `--` or at the
 * first non-flag argument. Flags not given on the command line are read from `FLANNELD_<NAME>`
 * (upper case, `-` → `_`): the command line wins. Unknown flags only warn (real flanneld exits 2).
 */
import type { Flavour } from './version.js';

type Kind = 'string' | 'bool' | 'int' | 'list';

interface FlagSpec {
  kind: Kind;
  def: string | boolean | number | string[];
  /** Only from this flavour on (v0.11 does not know the v0.20 additions). */
  since?: Flavour;
}

const specs: Record<string, FlagSpec> = {
  'etcd-endpoints': { kind: 'string', def: 'http://127.0.0.1:4001,http://127.0.0.1:2379' },
  'etcd-prefix': { kind: 'string', def: '/coreos.com/network' },
  'etcd-keyfile': { kind: 'string', def: '' },
  'etcd-certfile': { kind: 'string', def: '' },
  'etcd-cafile': { kind: 'string', def: '' },
  'etcd-username': { kind: 'string', def: '' },
  'etcd-password': { kind: 'string', def: '' },
  iface: { kind: 'list', def: [] },
  'iface-regex': { kind: 'list', def: [] },
  'iface-can-reach': { kind: 'string', def: '', since: 'v0.20' },
  'public-ip': { kind: 'string', def: '' },
  'public-ipv6': { kind: 'string', def: '', since: 'v0.20' },
  'subnet-file': { kind: 'string', def: '/run/flannel/subnet.env' },
  'subnet-lease-renew-margin': { kind: 'int', def: 60 },
  'ip-masq': { kind: 'bool', def: false },
  'iptables-resync': { kind: 'int', def: 5 },
  'iptables-forward-rules': { kind: 'bool', def: true },
  'healthz-ip': { kind: 'string', def: '0.0.0.0' },
  'healthz-port': { kind: 'int', def: 0 },
  'kube-subnet-mgr': { kind: 'bool', def: false },
  'kube-api-url': { kind: 'string', def: '' },
  'kubeconfig-file': { kind: 'string', def: '' },
  'kube-annotation-prefix': { kind: 'string', def: 'flannel.alpha.coreos.com' },
  'net-config-path': { kind: 'string', def: '/etc/kube-flannel/net-conf.json', since: 'v0.20' },
  'set-node-network-unavailable': { kind: 'bool', def: true, since: 'v0.20' },
  'use-multi-cluster-cidr': { kind: 'bool', def: false, since: 'v0.22' },
  version: { kind: 'bool', def: false },
  v: { kind: 'int', def: 0 },
  vmodule: { kind: 'string', def: '' },
  log_backtrace_at: { kind: 'string', def: '' },
  help: { kind: 'bool', def: false },
  h: { kind: 'bool', def: false },
};

export interface Options {
  etcdEndpoints: string[];
  etcdPrefix: string;
  etcdKeyfile: string;
  etcdCertfile: string;
  etcdCafile: string;
  etcdUsername: string;
  etcdPassword: string;
  iface: string[];
  ifaceRegex: string[];
  ifaceCanReach: string;
  publicIp: string;
  publicIpv6: string;
  subnetFile: string;
  subnetLeaseRenewMargin: number;
  ipMasq: boolean;
  iptablesResync: number;
  iptablesForwardRules: boolean;
  healthzIp: string;
  healthzPort: number;
  kubeSubnetMgr: boolean;
  version: boolean;
  help: boolean;
  /** Raw values by flag name, for the "CLI flags config" log line. */
  raw: Record<string, string | boolean | number | string[]>;
}

export interface ParsedFlags {
  options: Options;
  warnings: string[];
  /** Flag names set on the command line (not from the environment). */
  fromArgs: string[];
}

/** Bad flag syntax or value: flanneld (Go flag) exits 2. */
export class FlagError extends Error {
  readonly exitCode = 2;
}

const flavourRank: Record<Flavour, number> = { 'v0.11': 0, 'v0.20': 1, 'v0.22': 2 };

function known(name: string, flavour: Flavour): FlagSpec | undefined {
  const s = specs[name];
  if (!s) return undefined;
  if (s.since && flavourRank[flavour] < flavourRank[s.since]) return undefined;
  return s;
}

/** Go's strconv.ParseBool. */
export function parseGoBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return undefined;
}

function convert(name: string, spec: FlagSpec, value: string, where: string): string | boolean | number {
  if (spec.kind === 'bool') {
    const b = parseGoBool(value);
    if (b === undefined) throw new FlagError(`invalid boolean value "${value}" for ${where}: parse error`);
    return b;
  }
  if (spec.kind === 'int') {
    if (!/^[+-]?\d+$/.test(value.trim())) throw new FlagError(`invalid value "${value}" for ${where}: parse error`);
    return Number(value.trim());
  }
  return value;
}

export const envName = (flag: string) => `FLANNELD_${flag.toUpperCase().replace(/-/g, '_')}`;

export function parseFlags(argv: string[], env: NodeJS.ProcessEnv, flavour: Flavour): ParsedFlags {
  const raw: Record<string, string | boolean | number | string[]> = {};
  for (const [name, s] of Object.entries(specs)) raw[name] = Array.isArray(s.def) ? [...s.def] : s.def;
  const warnings: string[] = [];
  const fromArgs = new Set<string>();

  const set = (name: string, spec: FlagSpec, value: string, where: string) => {
    if (spec.kind === 'list') (raw[name] as string[]).push(value);
    else raw[name] = convert(name, spec, value, where);
  };

  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      i++;
      break;
    }
    if (arg.length < 2 || arg[0] !== '-') break;
    let body = arg.slice(arg[1] === '-' ? 2 : 1);
    if (body === '' || body[0] === '-' || body[0] === '=') throw new FlagError(`bad flag syntax: ${arg}`);
    let value: string | undefined;
    const eq = body.indexOf('=');
    if (eq >= 0) {
      value = body.slice(eq + 1);
      body = body.slice(0, eq);
    }
    const spec = known(body, flavour);
    if (!spec) {
      warnings.push(`flag provided but not defined: -${body} (ignored by the stand-in)`);
      continue;
    }
    if (spec.kind !== 'bool' && value === undefined) {
      if (i + 1 >= argv.length) throw new FlagError(`flag needs an argument: -${body}`);
      value = argv[++i];
    }
    set(body, spec, value ?? 'true', `-${body} flag`);
    fromArgs.add(body);
  }
  for (const rest of argv.slice(i)) warnings.push(`ignoring non-flag argument: ${rest}`);

  for (const [name, spec] of Object.entries(specs)) {
    if (fromArgs.has(name) || !known(name, flavour)) continue;
    const v = env[envName(name)];
    if (v !== undefined && v !== '') set(name, spec, v, `${envName(name)}`);
  }

  const str = (n: string) => raw[n] as string;
  const num = (n: string) => raw[n] as number;
  const bool = (n: string) => raw[n] as boolean;
  const list = (n: string) => raw[n] as string[];
  const options: Options = {
    etcdEndpoints: str('etcd-endpoints').split(',').map((e) => e.trim()).filter(Boolean),
    etcdPrefix: str('etcd-prefix'),
    etcdKeyfile: str('etcd-keyfile'),
    etcdCertfile: str('etcd-certfile'),
    etcdCafile: str('etcd-cafile'),
    etcdUsername: str('etcd-username'),
    etcdPassword: str('etcd-password'),
    iface: list('iface'),
    ifaceRegex: list('iface-regex'),
    ifaceCanReach: str('iface-can-reach'),
    publicIp: str('public-ip'),
    publicIpv6: str('public-ipv6'),
    subnetFile: str('subnet-file'),
    subnetLeaseRenewMargin: num('subnet-lease-renew-margin'),
    ipMasq: bool('ip-masq'),
    iptablesResync: num('iptables-resync'),
    iptablesForwardRules: bool('iptables-forward-rules'),
    healthzIp: str('healthz-ip'),
    healthzPort: num('healthz-port'),
    kubeSubnetMgr: bool('kube-subnet-mgr'),
    version: bool('version'),
    help: bool('help') || bool('h'),
    raw,
  };
  return { options, warnings, fromArgs: [...fromArgs] };
}

/** `CLI flags config: {...}` as flanneld logs it, except that the password is masked. */
export function describeOptions(o: Options): string {
  const shown = { ...o.raw };
  if (shown['etcd-password']) shown['etcd-password'] = '********';
  return JSON.stringify(shown);
}

export function usage(flavour: Flavour): string {
  const lines = Object.entries(specs)
    .filter(([n]) => known(n, flavour) && n !== 'h')
    .map(([n, s]) => `  -${n}${s.kind === 'bool' ? '' : ' value'}\t(default ${JSON.stringify(s.def)}, env ${envName(n)})`);
  return `Usage: flanneld [OPTION]...\n${lines.join('\n')}\n`;
}
