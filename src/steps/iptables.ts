/**
 * flanctl's iptables rules (FLANNEL.md §5; issue 4 item 5). With `masquerade: tightened` flanneld runs
 * without -ip-masq and the node gets
 *   nat    POSTROUTING -s <node subnet> ! -d <network> ! -o <bridge> -m comment --comment flanctl -j MASQUERADE
 * instead of Docker's broad `-s <node subnet> ! -o <bridge> -j MASQUERADE` (removed when present);
 * with forwardAccept (and flanneld not doing it): filter FORWARD -s/-d <network> ... -j ACCEPT.
 *
 * The rules are applied on the node by <installDir>/flanctl-iptables.sh (templates/flanctl-iptables.sh.hbs),
 * which reads subnet.env: systemd runs it as ExecStartPost, supervisord as the flanctl-iptables
 * program, and this step runs it once when a rule is missing. Rules are tested with `iptables -C`
 * (never by parsing -S output) in the node's default iptables variant.
 */
import type { Inventory } from '../model/inventory.js';
import type { Change, Step, StepContext } from '../engine/step.js';
import { FlanctlError } from '../errors.js';
import { openBackendRules } from '../model/firewall.js';
import { flanctlOwnsForwardRules, remotePaths, renderIptablesScript } from '../model/templates.js';
import { fileStep } from './file.js';
import { leaseSubnetFromEnv, onNode, parseEnvFile } from './util.js';
import { readArgv } from '../connector/remote-scripts.js';
import { listLeases } from '../kv/flannel-keys.js';

export interface IptablesRule {
  table: 'nat' | 'filter';
  chain: string;
  spec: string[];
}

export const FLANCTL_COMMENT = ['-m', 'comment', '--comment', 'flanctl'];
/** A rule flanctl added (it carries flanctl's comment), as opposed to Docker's or flanneld's. */
export const isOwnRule = (r: IptablesRule) => r.spec.join(' ').includes(FLANCTL_COMMENT.join(' '));

/**
 * Rules flanctl ensures, and rules it removes, for a node holding `subnet` ("10.244.5.0/24"). Removed:
 * Docker's broad MASQUERADE (tightened), and flanctl's own rules (comment "flanctl") that the inventory
 * no longer asks for — e.g. masquerade changed from tightened to flannel — so they do not linger.
 */
export function flanctlRules(inv: Inventory, subnet: string): { ensure: IptablesRule[]; absent: IptablesRule[] } {
  const { cidr } = inv.network;
  const { bridge } = inv.iptables;
  const ensure: IptablesRule[] = [];
  const absent: IptablesRule[] = [];
  const masq: IptablesRule = { table: 'nat', chain: 'POSTROUTING', spec: ['-s', subnet, '!', '-d', cidr, '!', '-o', bridge, ...FLANCTL_COMMENT, '-j', 'MASQUERADE'] };
  const forward: IptablesRule[] = (['-s', '-d'] as const).map((dir) => ({ table: 'filter', chain: 'FORWARD', spec: [dir, cidr, ...FLANCTL_COMMENT, '-j', 'ACCEPT'] }));
  if (inv.iptables.masquerade === 'tightened') {
    absent.push({ table: 'nat', chain: 'POSTROUTING', spec: ['-s', subnet, '!', '-o', bridge, '-j', 'MASQUERADE'] });
    ensure.push(masq);
  } else {
    absent.push(masq);
  }
  (flanctlOwnsForwardRules(inv) ? ensure : absent).push(...forward);
  for (const r of openBackendRules(inv)) {
    if (!ensure.some((e) => e.chain === r.chain && e.spec.join(' ') === r.spec.join(' '))) ensure.push({ table: 'filter', chain: r.chain, spec: r.spec });
  }
  return { ensure, absent };
}

export const iptablesCheckArgv = (r: IptablesRule) => ['iptables', '-w', '5', '-t', r.table, '-C', r.chain, ...r.spec];
/** The same rule deleted (reset): one copy per call. */
export const iptablesDeleteArgv = (r: IptablesRule) => ['iptables', '-w', '5', '-t', r.table, '-D', r.chain, ...r.spec];
export const ruleText = (r: IptablesRule) => `-t ${r.table} ${r.chain} ${r.spec.join(' ')}`;

/** The script installed next to flanneld. */
export function iptablesScriptStep(inv: Inventory): Step {
  const p = remotePaths(inv);
  return fileStep({ id: 'file:iptables-script', title: 'iptables script', path: p.iptablesScript, content: renderIptablesScript(inv), mode: 0o755 });
}

/** The node's subnet from subnet.env, or undefined while flanneld has not written it. */
export async function nodeSubnet(ctx: StepContext, stepId: string): Promise<string | undefined> {
  const { conn } = onNode(ctx, stepId);
  const env = await conn.read(ctx.inventory.flannel.subnetFile);
  return env ? leaseSubnetFromEnv(parseEnvFile(env.toString('utf8')).FLANNEL_SUBNET) : undefined;
}

async function observe(ctx: StepContext, inv: Inventory, subnet: string) {
  const { conn } = onNode(ctx, 'iptables:rules');
  const { ensure, absent } = flanctlRules(inv, subnet);
  const exists = async (r: IptablesRule) => {
    const res = await conn.exec(iptablesCheckArgv(r));
    if (res.code === 127) throw new FlanctlError(`${conn.name}: iptables not found`);
    return res.code === 0;
  };
  const [have, foreign] = await Promise.all([Promise.all(ensure.map(exists)), Promise.all(absent.map(exists))]);
  return { ensure, missing: ensure.filter((_, i) => !have[i]), present: absent.filter((_, i) => foreign[i]) };
}

export function iptablesRulesStep(inv: Inventory): Step {
  const id = 'iptables:rules';
  const script = remotePaths(inv).iptablesScript;
  const applyScript = async (ctx: StepContext) => {
    const { conn } = onNode(ctx, id);
    const r = await conn.exec([script]);
    const subnet = await nodeSubnet(ctx, id);
    if (!subnet) throw new FlanctlError(`${conn.name}: ${inv.flannel.subnetFile} has no FLANNEL_SUBNET; cannot apply iptables rules`);
    const after = await observe(ctx, inv, subnet);
    if (after.missing.length || after.present.length) {
      const what = [...after.missing.map((m) => `missing ${ruleText(m)}`), ...after.present.map((m) => `still present ${ruleText(m)}`)];
      throw new FlanctlError(`${conn.name}: ${script} exited ${r.code}; ${what.join('; ')}${r.stderr.trim() ? `\n    ${r.stderr.trim()}` : ''}`);
    }
  };
  return {
    id,
    title: 'iptables rules',
    // subnet.env, and the rules for the subnet etcd leases to the node (what subnet.env says when
    // flanneld is settled; otherwise the rule checks just go to the wire).
    async reads(ctx) {
      const subnet = ctx.kv && ctx.node ? (await listLeases(ctx.kv, inv.etcd.prefix)).find((l) => l.publicIp === ctx.node!.publicIp)?.subnet : undefined;
      const rules = subnet ? flanctlRules(inv, subnet) : undefined;
      return [readArgv(inv.flannel.subnetFile), ...(rules ? [...rules.ensure, ...rules.absent].map(iptablesCheckArgv) : [])];
    },
    async check(ctx): Promise<Change | undefined> {
      const subnet = await nodeSubnet(ctx, id);
      if (!subnet) {
        const { ensure } = flanctlRules(inv, '<node subnet>');
        return {
          action: 'create',
          summary: `${ensure.length} flanctl rule${ensure.length === 1 ? '' : 's'} (will be created once flanneld has a lease)`,
          diff: { before: '', after: ensure.map(ruleText).join('\n') },
          apply: () => applyScript(ctx),
        };
      }
      const { ensure, missing, present } = await observe(ctx, inv, subnet);
      if (!missing.length && !present.length) return undefined;
      const parts = [missing.length && `add ${missing.length}`, present.length && `remove ${present.length}`].filter(Boolean);
      return {
        action: missing.length === ensure.length && !present.length ? 'create' : 'update',
        summary: `${parts.join(', ')} iptables rule${missing.length + present.length === 1 ? '' : 's'} (subnet ${subnet})`,
        diff: {
          before: present.map(ruleText).join('\n'),
          after: missing.map(ruleText).join('\n'),
        },
        apply: () => applyScript(ctx),
      };
    },
  };
}


