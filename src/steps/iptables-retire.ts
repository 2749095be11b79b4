/**
 * When the inventory stops asking flanctl to manage iptables (masquerade changed from tightened to
 * flannel or none, forwardAccept and openBackend off), what an earlier run installed for it must not
 * linger: the systemd guard (flanctl-iptables.service + .timer, which would keep re-applying the old
 * rules every few seconds), flanctl's own rules (comment "flanctl") and the rule script with its state
 * file. supervisord's watcher program is dropped by the service step (its section leaves the program
 * file). Every removal is re-read afterwards. Only flanctl's own things are touched.
 */
import { run } from '../connector/connector.js';
import type { Change, Step, StepContext } from '../engine/step.js';
import { FlanctlError } from '../errors.js';
import type { Inventory } from '../model/inventory.js';
import { SYSTEMD_GUARD_LINKS, SYSTEMD_GUARD_UNITS, remotePaths } from '../model/templates.js';
import { readArgv } from '../connector/remote-scripts.js';
import { GUARD_UNITS } from './iptables-guard.js';
import { flanctlRules, isOwnRule, iptablesCheckArgv, iptablesDeleteArgv, nodeSubnet, ruleText, type IptablesRule } from './iptables.js';
import { onNode } from './util.js';

const existsArgv = (path: string) => ['test', '-e', path];

async function existing(ctx: StepContext, id: string, paths: string[]): Promise<string[]> {
  const { conn } = onNode(ctx, id);
  const found = await Promise.all(paths.map(async (p) => ((await conn.exec(existsArgv(p))).code === 0 ? p : undefined)));
  return found.filter((p): p is string => !!p);
}

/** systemd: the guard's units stopped, disabled and removed (then a daemon-reload). */
function guardRetireStep(): Step {
  const id = 'iptables:retire-guard';
  const files = [SYSTEMD_GUARD_UNITS.service, SYSTEMD_GUARD_UNITS.timer, ...SYSTEMD_GUARD_LINKS];
  const observe = async (ctx: StepContext) => {
    const { conn } = onNode(ctx, id);
    const active = (await conn.exec(['systemctl', 'is-active', ...GUARD_UNITS])).stdout.trim().split('\n');
    return { found: await existing(ctx, id, files), running: GUARD_UNITS.filter((_, i) => active[i] === 'active' || active[i] === 'activating') };
  };
  return {
    id,
    title: 'iptables guard retired (flanctl no longer manages rules)',
    reads: () => [['systemctl', 'is-active', ...GUARD_UNITS], ...files.map(existsArgv)],
    async check(ctx): Promise<Change | undefined> {
      const { conn } = onNode(ctx, id);
      const { found, running } = await observe(ctx);
      if (!found.length && !running.length) return undefined;
      return {
        action: 'delete',
        summary: [running.length && `stop ${running.join(', ')}`, found.length && `disable and remove ${found.join(', ')}`].filter(Boolean).join(', '),
        apply: async () => {
          await conn.exec(['systemctl', 'disable', '--now', ...GUARD_UNITS]);
          await run(conn, ['rm', '-f', '--', ...files]);
          await run(conn, ['systemctl', 'daemon-reload']);
          await conn.exec(['systemctl', 'reset-failed', ...GUARD_UNITS]);
          const after = await observe(ctx);
          if (after.found.length || after.running.length) throw new FlanctlError(`${conn.name}: the iptables guard is still there after removing it: ${[...after.running, ...after.found].join(', ')}`);
        },
      };
    },
  };
}

/** flanctl's own rules (comment "flanctl") that the inventory no longer wants; the subnet from subnet.env. */
function rulesRetireStep(inv: Inventory): Step {
  const id = 'iptables:retire-rules';
  // Without a subnet (no subnet.env) only the FORWARD rules, which name the network, can be checked.
  const own = (subnet: string | undefined): IptablesRule[] =>
    flanctlRules(inv, subnet ?? '').absent.filter((r) => isOwnRule(r) && (subnet !== undefined || r.table === 'filter'));
  const present = async (ctx: StepContext, rules: IptablesRule[]) => {
    const { conn } = onNode(ctx, id);
    const codes = await Promise.all(rules.map(async (r) => (await conn.exec(iptablesCheckArgv(r))).code));
    return rules.filter((_, i) => codes[i] === 0);
  };
  return {
    id,
    title: 'flanctl iptables rules retired',
    reads: () => [readArgv(inv.flannel.subnetFile), ...own(undefined).map(iptablesCheckArgv)],
    async check(ctx): Promise<Change | undefined> {
      const { conn } = onNode(ctx, id);
      const rules = own(await nodeSubnet(ctx, id));
      const found = await present(ctx, rules);
      if (!found.length) return undefined;
      return {
        action: 'delete',
        summary: `remove ${found.length} flanctl iptables rule${found.length === 1 ? '' : 's'} (iptables.masquerade: ${inv.iptables.masquerade})`,
        diff: { before: found.map(ruleText).join('\n'), after: '' },
        apply: async () => {
          // Every copy goes (a rule added twice by an old watcher race counts once in -C).
          for (const r of found) for (let i = 0; i < 10 && (await conn.exec(iptablesCheckArgv(r))).code === 0; i++) await run(conn, iptablesDeleteArgv(r));
          const left = await present(ctx, found);
          if (left.length) throw new FlanctlError(`${conn.name}: still present after deleting: ${left.map(ruleText).join('; ')}`);
        },
      };
    },
  };
}

/** The rule script and its state file, once nothing runs them. */
function scriptRetireStep(inv: Inventory): Step {
  const id = 'iptables:retire-script';
  const p = remotePaths(inv);
  const files = [p.iptablesScript, p.iptablesState];
  return {
    id,
    title: 'iptables script retired',
    reads: () => files.map(existsArgv),
    async check(ctx): Promise<Change | undefined> {
      const { conn } = onNode(ctx, id);
      const found = await existing(ctx, id, files);
      if (!found.length) return undefined;
      return {
        action: 'delete',
        summary: `remove ${found.join(', ')}`,
        apply: async () => {
          await run(conn, ['rm', '-f', '--', ...found]);
          const left = await existing(ctx, id, found);
          if (left.length) throw new FlanctlError(`${conn.name}: could not remove ${left.join(', ')}`);
        },
      };
    },
  };
}

/**
 * Steps for a node whose inventory does not let flanctl manage iptables: `beforeService` (the guard,
 * so nothing re-applies the old rules) and `afterService` (rules, then the script).
 */
export function iptablesRetireSteps(inv: Inventory): { beforeService: Step[]; afterService: Step[] } {
  return {
    beforeService: inv.flannel.service === 'systemd' ? [guardRetireStep()] : [],
    afterService: [rulesRetireStep(inv), scriptRetireStep(inv)],
  };
}
