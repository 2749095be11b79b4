/**
 * Temp files an interrupted run can leave (issue 10): Connector.write makes `.<name>.flanctl-XXXXXXXX`
 * (SFTP, local) or `.flanctl.XXXXXXXX` (sh + mktemp) beside the target and renames it into place; a
 * SIGKILL or a dropped connection between the two leaves it behind. bootstrap and reset sweep every
 * directory flanctl manages first. The cluster lock guarantees no other flanctl is writing there now.
 */
import { posix } from 'node:path';
import { run } from '../connector/connector.js';
import type { Inventory } from '../model/inventory.js';
import type { Step } from '../engine/step.js';
import { SUPERVISORD_CONF_CANDIDATES, SYSCTL_CONF_PATH, SYSTEMD_UNIT_PATH, remotePaths } from '../model/templates.js';
import { MODULES_LOAD_PATH } from './modules.js';
import { cniFiles } from '../model/cni.js';
import { DOCKER_DROPIN_PATH } from '../model/docker.js';
import { onNode } from './util.js';

/** Every directory flanctl writes files into on a node. */
export function managedDirs(inv: Inventory): string[] {
  const p = remotePaths(inv);
  const files = [
    p.ca, p.flanneld, p.iptablesScript, p.iptablesState, p.subnetFile, inv.flannel.dockerOptsFile, SYSCTL_CONF_PATH, MODULES_LOAD_PATH,
    SYSTEMD_UNIT_PATH, ...SUPERVISORD_CONF_CANDIDATES.map((c) => c.path), ...cniFiles(inv), ...(inv.docker.integration ? [DOCKER_DROPIN_PATH] : []),
  ];
  return [...new Set([...files.map((f) => posix.dirname(f)), inv.flannel.logDir])].sort();
}

/**
 * The temp files flanctl's writes leave, one per line (missing directories are skipped): regular
 * files, not symlinks, matched by shell globs (no process; `find` was one per directory).
 */
export const litterArgv = (dirs: string[]) => [
  'sh', '-c', 'for d in "$@"; do [ -d "$d" ] || continue; for f in "$d"/.*.flanctl-* "$d"/.flanctl.*; do [ -f "$f" ] && [ ! -L "$f" ] && printf \'%s\\n\' "$f"; done; done; exit 0', 'flanctl-litter', ...dirs,
];

export function litterStep(inv: Inventory): Step {
  const id = 'litter:sweep';
  const dirs = managedDirs(inv);
  return {
    id,
    title: 'temp files of interrupted runs',
    reads: () => [litterArgv(dirs)],
    async check(ctx) {
      const { conn } = onNode(ctx, id);
      const found = (await run(conn, litterArgv(dirs))).split('\n').filter((l) => l.startsWith('/'));
      if (!found.length) return undefined;
      return {
        action: 'delete',
        summary: `remove ${found.length} temp file(s) an interrupted run left`,
        diff: { before: found.join('\n'), after: '' },
        apply: async () => {
          await run(conn, ['rm', '-f', '--', ...found]);
        },
      };
    },
  };
}
