/**
 * Which iptables rules `flanctl reset` removes (FLANNEL.md §5): only rules carrying flanctl's
 * comment (`-m comment --comment flanctl`), and flanneld's FLANNEL-* chains (jump removed, then
 * -F, -X, since flanneld v0.27+ leaves them behind). Pure: reads `iptables -t <table> -S` output,
 * skipping anything that is not a rule line (iptables-nft prints warnings there, LAB-NOTES.md).
 */
import { iptablesDeleteArgv, type IptablesRule } from '../steps/iptables.js';

export type Table = 'nat' | 'filter';

/** Split one `iptables -S` line into argv, honouring the double quotes iptables puts around "a b". */
export function splitRuleLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inQuote = false;
  let has = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (inQuote) {
      if (c === '\\' && i + 1 < line.length) cur += line[++i];
      else if (c === '"') inQuote = false;
      else cur += c;
    } else if (c === '"') {
      inQuote = true;
      has = true;
    } else if (/\s/.test(c)) {
      if (has || cur) out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (has || cur) out.push(cur);
  return out;
}

export interface IptablesCleanup {
  /** flanctl's own rules (by comment), then jumps into FLANNEL-* chains. */
  rules: Array<{ rule: IptablesRule; why: 'flanctl' | 'jump' }>;
  /** FLANNEL-* chains to flush and delete. */
  chains: Array<{ table: Table; chain: string }>;
}

const isFlannelChain = (c: string) => /^FLANNEL-/.test(c);

function hasComment(tokens: string[], comment: string): boolean {
  return tokens.some((t, i) => t === '--comment' && tokens[i + 1] === comment);
}

/** The cleanup for one table from its `iptables -t <table> -S` output. */
export function iptablesCleanup(table: Table, saveOutput: string): IptablesCleanup {
  const rules: IptablesCleanup['rules'] = [];
  const chains: IptablesCleanup['chains'] = [];
  for (const line of saveOutput.split('\n')) {
    const tokens = splitRuleLine(line.trim());
    if (tokens[0] === '-N' && tokens[1] && isFlannelChain(tokens[1])) chains.push({ table, chain: tokens[1] });
    if (tokens[0] !== '-A' || !tokens[1]) continue;
    const chain = tokens[1];
    const rule: IptablesRule = { table, chain, spec: tokens.slice(2) };
    if (hasComment(tokens, 'flanctl')) rules.push({ rule, why: 'flanctl' });
    else if (!isFlannelChain(chain)) {
      const j = tokens.indexOf('-j');
      if (j > 0 && tokens[j + 1] && isFlannelChain(tokens[j + 1])) rules.push({ rule, why: 'jump' });
    }
  }
  return { rules, chains };
}

export function mergeCleanups(parts: IptablesCleanup[]): IptablesCleanup {
  return { rules: parts.flatMap((p) => p.rules), chains: parts.flatMap((p) => p.chains) };
}

/** argv lists in order: rules deleted, then each chain flushed and deleted. */
export function iptablesCleanupArgv(c: IptablesCleanup): string[][] {
  return [
    ...c.rules.map((r) => iptablesDeleteArgv(r.rule)),
    ...c.chains.map((ch) => ['iptables', '-w', '5', '-t', ch.table, '-F', ch.chain]),
    ...c.chains.map((ch) => ['iptables', '-w', '5', '-t', ch.table, '-X', ch.chain]),
  ];
}

export function iptablesCleanupSummary(c: IptablesCleanup): string {
  const own = c.rules.filter((r) => r.why === 'flanctl').length;
  const jumps = c.rules.length - own;
  return [
    own && `${own} flanctl rule${own === 1 ? '' : 's'}`,
    jumps && `${jumps} jump${jumps === 1 ? '' : 's'} into FLANNEL-* chains`,
    c.chains.length && `chain${c.chains.length === 1 ? '' : 's'} ${c.chains.map((x) => `${x.table}/${x.chain}`).join(', ')}`,
  ].filter(Boolean).join(', ');
}
