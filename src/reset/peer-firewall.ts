/**
 * What a removed node leaves in its peers' firewalls (issue 16 item 6 with item 3): with
 * `iptables.openBackend: true` every node accepts the backend's port from every other node's public
 * IP (model/firewall.ts). When a node leaves, each remaining peer gets its iptables script without
 * that node (supervisord: the flanctl-iptables watcher restarted, or its running loop would put the
 * rule back; systemd runs the script afresh each time) and then loses exactly those ACCEPT rules:
 * deleted by their full spec, flanctl comment included, so a rule flanctl did not create is never touched.
 */
import type { Connector } from '../connector/connector.js';
import { FlanctlError } from '../errors.js';
import { openBackendRules } from '../model/firewall.js';
import type { Inventory } from '../model/inventory.js';
import { SUPERVISORD_PROGRAMS, remotePaths, renderIptablesScript } from '../model/templates.js';
import { iptablesCheckArgv, iptablesDeleteArgv, ruleText, type IptablesRule } from '../steps/iptables.js';
import { isUp, settledSupervisorStatus, supervisorctl } from '../steps/service.js';

/** The openBackend rules that exist only for nodes `rest` no longer has (the removed node's public IP). */
export function removedNodeRules(inv: Inventory, rest: Inventory): IptablesRule[] {
  const key = (r: { chain: string; spec: string[] }) => `${r.chain} ${r.spec.join(' ')}`;
  const kept = new Set(openBackendRules(rest).map(key));
  return openBackendRules(inv).filter((r) => !kept.has(key(r))).map((r) => ({ table: 'filter', chain: r.chain, spec: r.spec }));
}

/** On one remaining peer: the script without the node, the watcher restarted, the node's ACCEPT rules deleted. What was done. */
export async function dropRemovedNodeRules(conn: Connector, inv: Inventory, rest: Inventory): Promise<string[]> {
  const rules = removedNodeRules(inv, rest);
  if (!rules.length) return [];
  const done: string[] = [];
  const path = remotePaths(inv).iptablesScript;
  const want = renderIptablesScript(rest);
  const have = await conn.read(path);
  if (have && have.toString('utf8') !== want) {
    await conn.write(path, want, 0o755);
    done.push(`file ${path} (without the node's rules)`);
    if (inv.flannel.service === 'supervisord') {
      const W = SUPERVISORD_PROGRAMS.iptables;
      if (isUp((await settledSupervisorStatus(conn, [W]))[W])) {
        await supervisorctl(conn, ['restart', W]);
        done.push(`restarted ${W}`);
      }
    }
  }
  for (const r of rules) {
    // Every copy (a rule inserted twice by hand-run scripts); bounded, in case -D silently does nothing.
    for (let i = 0; i < 8 && (await conn.exec(iptablesCheckArgv(r))).code === 0; i++) {
      const d = await conn.exec(iptablesDeleteArgv(r));
      if (d.code !== 0) throw new FlanctlError(`${conn.name}: could not delete iptables rule ${ruleText(r)}: ${d.stderr.trim() || `exit ${d.code}`}`);
      if (i === 0) done.push(`iptables ${ruleText(r)}`);
    }
  }
  return done;
}
