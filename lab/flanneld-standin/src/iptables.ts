/**
 * -ip-masq and -iptables-forward-rules (FLANNEL.md §5, §9).
 * v0.20 flavour (as observed on v0.20.2): chains FLANNEL-POSTRTG (nat) and FLANNEL-FWD (filter),
 * flushed at start, rules with `flanneld masq` / `flanneld forward` comments, jumps inserted at the
 * top of POSTROUTING / FORWARD (v0.20.0–v0.21.2 used -I), FORWARD policy set to ACCEPT.
 * v0.22 flavour (flannel v0.22.3 pkg/iptables): the same chains, but the jumps are appended (-A) and
 * the masquerade chain gains per-pod-subnet RETURN rules (`-s <subnet> -d <net>`, `-s <net> -d <subnet>`)
 * in place of `-s <net> -d <net>`.
 * v0.11 flavour: the same rules without comments and without the mark rule, directly in
 * POSTROUTING / FORWARD. All re-check every -iptables-resync seconds and re-install when one is gone.
 */
import { formatNet4, type Net4 } from './ip4.js';
import type { Logger } from './log.js';
import type { Sys } from './sys.js';
import type { Flavour } from './version.js';

export interface Rule {
  table: 'nat' | 'filter';
  chain: string;
  spec: string[];
}

export interface RuleSet {
  /** Chains to create and flush first (v0.20). */
  chains: { table: 'nat' | 'filter'; chain: string }[];
  /** Jump rules, inserted at position 1 (v0.20) or appended (v0.22). */
  jumps: Rule[];
  /** v0.22 appends its jumps instead of inserting them at the top. */
  appendJumps?: boolean;
  /** Rules appended in order. */
  rules: Rule[];
}

const MASQ = ['-m', 'comment', '--comment', 'flanneld masq'];
const FWD = ['-m', 'comment', '--comment', 'flanneld forward'];

export function masqRules(flavour: Flavour, network: Net4, subnet: Net4): RuleSet {
  const n = formatNet4(network);
  const sn = formatNet4(subnet);
  if (flavour === 'v0.11') {
    const r = (spec: string[]): Rule => ({ table: 'nat', chain: 'POSTROUTING', spec });
    return {
      chains: [],
      jumps: [],
      rules: [
        r(['-s', n, '-d', n, '-j', 'RETURN']),
        r(['-s', n, '!', '-d', '224.0.0.0/4', '-j', 'MASQUERADE', '--random-fully']),
        r(['!', '-s', n, '-d', sn, '-j', 'RETURN']),
        r(['!', '-s', n, '-d', n, '-j', 'MASQUERADE', '--random-fully']),
      ],
    };
  }
  const r = (spec: string[]): Rule => ({ table: 'nat', chain: 'FLANNEL-POSTRTG', spec });
  if (flavour === 'v0.22') {
    return {
      chains: [{ table: 'nat', chain: 'FLANNEL-POSTRTG' }],
      jumps: [{ table: 'nat', chain: 'POSTROUTING', spec: [...MASQ, '-j', 'FLANNEL-POSTRTG'] }],
      appendJumps: true,
      rules: [
        r(['-m', 'mark', '--mark', '0x4000/0x4000', ...MASQ, '-j', 'RETURN']),
        r(['-s', sn, '-d', n, ...MASQ, '-j', 'RETURN']),
        r(['-s', n, '-d', sn, ...MASQ, '-j', 'RETURN']),
        r(['!', '-s', n, '-d', sn, ...MASQ, '-j', 'RETURN']),
        r(['-s', n, '!', '-d', '224.0.0.0/4', ...MASQ, '-j', 'MASQUERADE', '--random-fully']),
        r(['!', '-s', n, '-d', n, ...MASQ, '-j', 'MASQUERADE', '--random-fully']),
      ],
    };
  }
  return {
    chains: [{ table: 'nat', chain: 'FLANNEL-POSTRTG' }],
    jumps: [{ table: 'nat', chain: 'POSTROUTING', spec: [...MASQ, '-j', 'FLANNEL-POSTRTG'] }],
    rules: [
      r(['-m', 'mark', '--mark', '0x4000/0x4000', ...MASQ, '-j', 'RETURN']),
      r(['-s', n, '-d', n, ...MASQ, '-j', 'RETURN']),
      r(['-s', n, '!', '-d', '224.0.0.0/4', ...MASQ, '-j', 'MASQUERADE', '--random-fully']),
      r(['!', '-s', n, '-d', sn, ...MASQ, '-j', 'RETURN']),
      r(['!', '-s', n, '-d', n, ...MASQ, '-j', 'MASQUERADE', '--random-fully']),
    ],
  };
}

export function forwardRules(flavour: Flavour, network: Net4): RuleSet {
  const n = formatNet4(network);
  if (flavour === 'v0.11') {
    const r = (spec: string[]): Rule => ({ table: 'filter', chain: 'FORWARD', spec });
    return { chains: [], jumps: [], rules: [r(['-s', n, '-j', 'ACCEPT']), r(['-d', n, '-j', 'ACCEPT'])] };
  }
  const r = (spec: string[]): Rule => ({ table: 'filter', chain: 'FLANNEL-FWD', spec });
  return {
    chains: [{ table: 'filter', chain: 'FLANNEL-FWD' }],
    jumps: [{ table: 'filter', chain: 'FORWARD', spec: [...FWD, '-j', 'FLANNEL-FWD'] }],
    appendJumps: flavour === 'v0.22',
    rules: [r(['-s', n, ...FWD, '-j', 'ACCEPT']), r(['-d', n, ...FWD, '-j', 'ACCEPT'])],
  };
}

const ipt = (table: string, op: string[], spec: string[]) => ['iptables', '--wait', '-t', table, ...op, ...spec];

async function deleteAll(sys: Sys, r: Rule): Promise<void> {
  for (let i = 0; i < 20; i++) {
    const res = await sys.exec(ipt(r.table, ['-D', r.chain], r.spec));
    if (res.code !== 0) return;
  }
}

async function missing(sys: Sys, set: RuleSet): Promise<Rule[]> {
  const out: Rule[] = [];
  for (const r of [...set.jumps, ...set.rules]) {
    if ((await sys.exec(ipt(r.table, ['-C', r.chain], r.spec))).code !== 0) out.push(r);
  }
  return out;
}

/** Install a rule set the way flanneld does at start (flush own chains, delete copies, add). */
export async function installRules(sys: Sys, log: Logger, set: RuleSet, flush: boolean): Promise<void> {
  for (const c of set.chains) {
    await sys.exec(['iptables', '--wait', '-t', c.table, '-N', c.chain]);
    if (flush) await sys.exec(['iptables', '--wait', '-t', c.table, '-F', c.chain]);
  }
  for (const r of set.rules) {
    await deleteAll(sys, r);
    log.info(`Adding iptables rule: ${r.spec.join(' ')}`);
    const res = await sys.exec(ipt(r.table, ['-A', r.chain], r.spec));
    if (res.code !== 0) throw new Error(`iptables -t ${r.table} -A ${r.chain} ${r.spec.join(' ')}: ${res.stderr.trim()}`);
  }
  for (const r of set.jumps) {
    await deleteAll(sys, r);
    log.info(`Adding iptables rule: ${r.spec.join(' ')}`);
    const op = set.appendJumps ? ['-A', r.chain] : ['-I', r.chain, '1'];
    const res = await sys.exec(ipt(r.table, op, r.spec));
    if (res.code !== 0) throw new Error(`iptables -t ${r.table} ${op.join(' ')} ${r.spec.join(' ')}: ${res.stderr.trim()}`);
  }
}

export async function removeRules(sys: Sys, log: Logger, set: RuleSet): Promise<void> {
  for (const r of [...set.jumps, ...set.rules]) {
    log.info(`Deleting iptables rule: ${r.spec.join(' ')}`);
    await deleteAll(sys, r);
  }
}

/** Installs now and re-checks every `resyncSeconds`; returns a stop function. */
export function ensureRules(sys: Sys, log: Logger, set: RuleSet, resyncSeconds: number): Promise<() => void> {
  let timer: NodeJS.Timeout | undefined;
  let busy = false;
  const tick = async () => {
    if (busy) return;
    busy = true;
    try {
      const gone = await missing(sys, set);
      if (gone.length > 0) {
        log.warn(`Some iptables rules are missing; deleting and recreating rules`);
        await removeRules(sys, log, set);
        await installRules(sys, log, set, false);
      }
    } catch (e) {
      log.error(`Failed to ensure iptables rules: ${(e as Error).message}`);
    } finally {
      busy = false;
    }
  };
  return installRules(sys, log, set, true).then(() => {
    timer = setInterval(() => void tick(), Math.max(1, resyncSeconds) * 1000);
    timer.unref();
    return () => clearInterval(timer);
  });
}
