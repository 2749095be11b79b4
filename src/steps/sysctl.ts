/**
 * net.ipv4.ip_forward=1, now and after a reboot. flanneld never enables forwarding (FLANNEL.md §9);
 * Docker does when it runs, a node without Docker would drop traffic for containers behind it.
 */
import { run } from '../connector/connector.js';
import type { Step } from '../engine/step.js';
import { SYSCTL_CONF_PATH, renderSysctlConf } from '../model/templates.js';
import { fileStep } from './file.js';
import { onNode } from './util.js';

export const SYSCTL_KEY = 'net.ipv4.ip_forward';

/** The persisted setting in /etc/sysctl.d/ (read by systemd-sysctl / procps at boot). */
export function sysctlFileStep(): Step {
  return fileStep({ id: 'sysctl:file', title: 'sysctl.d ip_forward', path: SYSCTL_CONF_PATH, content: renderSysctlConf(), mode: 0o644 });
}

/** The running kernel's value. */
export function sysctlRuntimeStep(key = SYSCTL_KEY, value = '1'): Step {
  const id = 'sysctl:runtime';
  return {
    id,
    title: `${key}=${value}`,
    reads: () => [['sysctl', '-n', key]],
    async check(ctx) {
      const { conn } = onNode(ctx, id);
      const r = await conn.exec(['sysctl', '-n', key]);
      const current = r.code === 0 ? r.stdout.trim() : undefined;
      if (current === value) return undefined;
      return {
        action: 'update',
        summary: `${key}: ${current ?? '?'} → ${value}`,
        affects: [key, `/proc/sys/${key.replace(/\./g, '/')}`],
        apply: async () => {
          await run(conn, ['sysctl', '-w', `${key}=${value}`]);
        },
      };
    },
  };
}
