/**
 * reset on systemd nodes: everything flanctl's units left behind — flanneld.service, the iptables
 * guard (flanctl-iptables.service + .timer), their drop-in dirs, the enablement symlinks (also those a
 * `disable` cannot find once a unit file is gone) — and no failed unit left in `systemctl --failed`.
 */
import { posix } from 'node:path';
import { run, type Connector } from '../connector/connector.js';
import type { Change } from '../engine/step.js';
import { SYSTEMD_GUARD_LINKS, SYSTEMD_GUARD_UNITS, SYSTEMD_UNIT_PATH } from '../model/templates.js';

export const FLANCTL_UNITS = ['flanctl-iptables.timer', 'flanctl-iptables.service', 'flanneld.service'];
const UNIT_DIR = posix.dirname(SYSTEMD_UNIT_PATH);

/**
 * Unit files, drop-in dirs and the symlinks `enable` makes (WantedBy / RequiredBy of the templates),
 * plus `extra` files that also need the daemon-reload (docker.service's flannel drop-in).
 */
export function systemdResetPaths(extra: string[] = []): string[] {
  return [
    ...extra,
    SYSTEMD_UNIT_PATH, SYSTEMD_GUARD_UNITS.service, SYSTEMD_GUARD_UNITS.timer,
    ...FLANCTL_UNITS.map((u) => `${UNIT_DIR}/${u}.d`),
    `${UNIT_DIR}/multi-user.target.wants/flanneld.service`,
    `${UNIT_DIR}/docker.service.requires/flanneld.service`,
    ...SYSTEMD_GUARD_LINKS,
  ];
}

export async function systemdResetChange(conn: Connector, existing: (paths: string[]) => Promise<Map<string, unknown>>, extra: string[] = []): Promise<Change | undefined> {
  const found = [...(await existing(systemdResetPaths(extra))).keys()];
  const active = (await conn.exec(['systemctl', 'is-active', ...FLANCTL_UNITS])).stdout.trim().split('\n');
  const running = FLANCTL_UNITS.filter((_, i) => active[i] === 'active' || active[i] === 'activating');
  const failed = FLANCTL_UNITS.filter((_, i) => active[i] === 'failed');
  if (!found.length && !running.length && !failed.length) return undefined;
  return {
    action: 'delete',
    summary: [running.length && `stop and disable ${running.join(', ')}`, found.length && `remove ${found.join(', ')}`, failed.length && `reset-failed ${failed.join(', ')}`]
      .filter(Boolean).join(', '),
    apply: async () => {
      await conn.exec(['systemctl', 'disable', '--now', ...FLANCTL_UNITS]);
      if (found.length) await run(conn, ['rm', '-rf', '--', ...found]);
      await run(conn, ['systemctl', 'daemon-reload']);
      await conn.exec(['systemctl', 'reset-failed', ...FLANCTL_UNITS]);
    },
  };
}
