/**
 * Docker wiring the way the seeds did it (issue 17 item 4), pure: the systemd drop-in that makes
 * docker.service read flanneld's /run/flannel/docker (written by mk-docker-opts.sh) and start after
 * flanneld, and the daemon.json merge used under supervisord (bip/mtu from subnet.env, every other
 * key kept).
 */
import type { Inventory } from './inventory.js';

export const DOCKER_DROPIN_PATH = '/etc/systemd/system/docker.service.d/10-flannel.conf';

export function renderDockerDropIn(inv: Inventory): string {
  return [
    '# Managed by flanctl (docker.integration): Docker takes its bridge address and MTU from flanneld.',
    `# ${inv.flannel.dockerOptsFile} is written by mk-docker-opts.sh when flanneld.service starts; restart docker to pick up a new lease.`,
    '[Unit]',
    'After=flanneld.service',
    'Wants=flanneld.service',
    '',
    '[Service]',
    `EnvironmentFile=-${inv.flannel.dockerOptsFile}`,
    'ExecStart=',
    `ExecStart=${inv.docker.dockerd} $DOCKER_NETWORK_OPTIONS -H fd:// --containerd=/run/containerd/containerd.sock`,
    '',
  ].join('\n');
}

/** Why a daemon.json cannot be merged (not JSON, not an object); undefined when it can. */
export function daemonJsonProblem(text: string): string | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? undefined : 'not a JSON object';
  } catch (err) {
    return `not valid JSON (${err instanceof Error ? err.message : String(err)})`;
  }
}

/**
 * daemon.json with bip = FLANNEL_SUBNET and mtu = FLANNEL_MTU, every other key kept in its order.
 * `current` undefined (no file) starts from {}. Throws when the file is not a JSON object.
 */
export function mergeDaemonJson(current: string | undefined, env: { FLANNEL_SUBNET: string; FLANNEL_MTU: string }): string {
  const problem = current === undefined || !current.trim() ? undefined : daemonJsonProblem(current);
  if (problem) throw new Error(problem);
  const doc = current && current.trim() ? (JSON.parse(current) as Record<string, unknown>) : {};
  doc.bip = env.FLANNEL_SUBNET;
  doc.mtu = Number(env.FLANNEL_MTU);
  return `${JSON.stringify(doc, null, 2)}\n`;
}
