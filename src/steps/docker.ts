/**
 * Docker wiring steps (issue 17 item 4). systemd: the docker.service drop-in (a file step, then
 * daemon-reload; the operator restarts docker, flanctl never restarts a container runtime). supervisord: bip/mtu merged
 * into daemon.json from subnet.env (runs after the lease wait), other keys kept; an unreadable
 * daemon.json stops the step without writing.
 */
import type { Inventory } from '../model/inventory.js';
import type { Step } from '../engine/step.js';
import { run } from '../connector/connector.js';
import { FlanctlError } from '../errors.js';
import { DOCKER_DROPIN_PATH, daemonJsonProblem, mergeDaemonJson, renderDockerDropIn } from '../model/docker.js';
import { fileStep } from './file.js';
import { onNode, parseEnvFile, shortDiff } from './util.js';
import { readArgv } from '../connector/remote-scripts.js';

/**
 * The drop-in file, then `systemctl daemon-reload`: otherwise systemd keeps the old docker.service
 * definition (NeedDaemonReload=yes) until something else reloads it, and the operator's
 * `systemctl restart docker` would still start dockerd without the flannel options.
 */
export function dockerDropInStep(inv: Inventory): Step {
  const file = fileStep({ id: 'file:docker-dropin', title: 'docker.service drop-in', path: DOCKER_DROPIN_PATH, content: renderDockerDropIn(inv), mode: 0o644 });
  return {
    ...file,
    async check(ctx) {
      const change = await file.check(ctx);
      if (!change) return undefined;
      return {
        ...change,
        apply: async () => {
          await change.apply();
          await run(onNode(ctx, file.id).conn, ['systemctl', 'daemon-reload']);
        },
      };
    },
  };
}

export function daemonJsonStep(inv: Inventory): Step {
  const id = 'file:docker-daemon-json';
  const path = inv.docker.daemonJson;
  return {
    id,
    title: 'docker daemon.json bip/mtu',
    reads: () => [readArgv(inv.flannel.subnetFile), readArgv(path)],
    async check(ctx) {
      const { conn } = onNode(ctx, id);
      const envText = await conn.read(inv.flannel.subnetFile);
      const env = envText ? parseEnvFile(envText.toString('utf8')) : {};
      if (!env.FLANNEL_SUBNET || !env.FLANNEL_MTU) throw new FlanctlError(`${conn.name}: ${inv.flannel.subnetFile} has no FLANNEL_SUBNET/FLANNEL_MTU; cannot set bip/mtu in ${path}`);
      const current = (await conn.read(path))?.toString('utf8');
      const problem = current?.trim() ? daemonJsonProblem(current) : undefined;
      if (problem) throw new FlanctlError(`${conn.name}: ${path} is ${problem}; fix it by hand (docker.daemonJson), flanctl will not overwrite it`);
      const next = mergeDaemonJson(current, { FLANNEL_SUBNET: env.FLANNEL_SUBNET, FLANNEL_MTU: env.FLANNEL_MTU });
      if (current !== undefined && current.trim() && JSON.stringify(JSON.parse(current)) === JSON.stringify(JSON.parse(next))) return undefined;
      return {
        action: current === undefined ? 'create' : 'update',
        summary: `${path}: bip ${env.FLANNEL_SUBNET}, mtu ${env.FLANNEL_MTU} (other keys kept; restart docker to apply)`,
        diff: shortDiff(current ?? '', next),
        apply: () => conn.write(path, next, 0o644),
      };
    },
  };
}

/** The docker steps for a node: the drop-in (systemd, with the service definition) or daemon.json (supervisord, after the lease). */
export function dockerSteps(inv: Inventory): { beforeService: Step[]; afterLease: Step[] } {
  if (!inv.docker.integration) return { beforeService: [], afterLease: [] };
  return inv.flannel.service === 'systemd' ? { beforeService: [dockerDropInStep(inv)], afterLease: [] } : { beforeService: [], afterLease: [daemonJsonStep(inv)] };
}
