/**
 * systemd's counterpart of the supervisord `flanctl-iptables` watcher (same semantics): flanneld's
 * ExecStartPost applies flanctl's rules at start, but Docker starts later and adds its broad
 * `-s <subnet> ! -o docker0 -j MASQUERADE` again on every boot. flanctl-iptables.service (oneshot,
 * After=flanneld.service docker.service, enabled for multi-user.target) runs the rule script once
 * both are up; flanctl-iptables.timer runs it again every IPTABLES_WATCH_SECONDS.
 */
import { run } from '../connector/connector.js';
import type { Change, Step, StepContext } from '../engine/step.js';
import type { Inventory } from '../model/inventory.js';
import { SYSTEMD_GUARD_UNITS, iniProblems, renderGuardUnit } from '../model/templates.js';
import { fileStep } from './file.js';
import { onNode } from './util.js';

export const GUARD_FILE_IDS = ['file:iptables-guard-service', 'file:iptables-guard-timer'];
export const GUARD_UNITS = ['flanctl-iptables.service', 'flanctl-iptables.timer'];

export function iptablesGuardSteps(inv: Inventory): Step[] {
  const files = (['service', 'timer'] as const).map((which, i) =>
    fileStep({
      id: GUARD_FILE_IDS[i],
      title: `systemd ${GUARD_UNITS[i]}`,
      path: SYSTEMD_GUARD_UNITS[which],
      content: renderGuardUnit(inv, which),
      mode: 0o644,
      validate: iniProblems,
    }),
  );
  const id = 'service:iptables-guard';
  const state: Step = {
    id,
    title: 'iptables guard (flanctl-iptables.service + .timer)',
    reads: () => [['systemctl', 'is-enabled', ...GUARD_UNITS], ['systemctl', 'is-active', GUARD_UNITS[1]]],
    async check(ctx: StepContext): Promise<Change | undefined> {
      const { conn } = onNode(ctx, id);
      const enabled = (await conn.exec(['systemctl', 'is-enabled', ...GUARD_UNITS])).stdout.trim().split('\n');
      const timerActive = (await conn.exec(['systemctl', 'is-active', GUARD_UNITS[1]])).stdout.trim() === 'active';
      const touched = GUARD_FILE_IDS.some((f) => ctx.touched.has(f)) || ctx.touched.has('file:iptables-script');
      const notEnabled = GUARD_UNITS.filter((_, i) => enabled[i] !== 'enabled');
      if (!notEnabled.length && timerActive && !touched) return undefined;
      return {
        action: notEnabled.length === GUARD_UNITS.length ? 'create' : 'update',
        summary: [notEnabled.length && `enable ${notEnabled.join(', ')}`, !timerActive ? 'start the timer' : touched && 'reload and run again'].filter(Boolean).join(', '),
        apply: async () => {
          if (GUARD_FILE_IDS.some((f) => ctx.touched.has(f))) await run(conn, ['systemctl', 'daemon-reload']);
          if (notEnabled.length) await run(conn, ['systemctl', 'enable', ...notEnabled]);
          await run(conn, ['systemctl', timerActive ? 'restart' : 'start', GUARD_UNITS[1]]);
          // Run the oneshot now too, so a rule Docker re-added is gone before verify.
          await run(conn, ['systemctl', 'start', GUARD_UNITS[0]]);
        },
      };
    },
  };
  return [...files, state];
}
