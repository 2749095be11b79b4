/**
 * Wait until the node holds a lease in etcd whose PublicIP is the node's, and flanneld wrote
 * subnet.env for it. A timeout fails with the last lines of flanneld's log.
 */
import { FlanctlError } from '../errors.js';
import type { Inventory } from '../model/inventory.js';
import { type Lease } from '../model/leases.js';
import type { Step, StepContext } from '../engine/step.js';
import { CrashWatch } from './crash-watch.js';
import { flanneldLogTail } from './service.js';
import { leaseSubnetFromEnv, needKv, onNode, parseEnvFile, pollUntil } from './util.js';
import { listLeases } from '../kv/flannel-keys.js';
import { readArgv } from '../connector/remote-scripts.js';

export interface LeaseState {
  lease?: Lease;
  /** The lease network from subnet.env's FLANNEL_SUBNET. */
  envSubnet?: string;
}

export async function observeLease(ctx: StepContext, inv: Inventory, stepId: string): Promise<LeaseState> {
  const { node, conn } = onNode(ctx, stepId);
  const leases = await listLeases(needKv(ctx, stepId), inv.etcd.prefix);
  const lease = leases.find((l) => l.publicIp === node.publicIp);
  const env = await conn.read(inv.flannel.subnetFile);
  const envSubnet = env ? leaseSubnetFromEnv(parseEnvFile(env.toString('utf8')).FLANNEL_SUBNET) : undefined;
  return { lease, envSubnet };
}

const ready = (s: LeaseState) => !!s.lease && s.envSubnet === s.lease.subnet;

export function leaseWaitStep(inv: Inventory, opts: { timeoutMs: number }): Step {
  const id = 'lease:wait';
  return {
    id,
    title: 'subnet lease + subnet.env',
    reads: () => [readArgv(inv.flannel.subnetFile)],
    async check(ctx) {
      const { node, conn } = onNode(ctx, id);
      const state = await observeLease(ctx, inv, id);
      if (ready(state)) return undefined;
      const what = !state.lease ? 'a subnet lease in etcd' : `${inv.flannel.subnetFile} for ${state.lease.subnet}`;
      return {
        action: 'create',
        summary: `flanneld acquires ${what} (public IP ${node.publicIp})`,
        apply: async () => {
          ctx.progress?.('waiting for a subnet lease');
          const last = { state };
          const crash = new CrashWatch(inv, conn, () => flanneldLogTail(inv, conn));
          let crashed: string | undefined;
          const ok = await pollUntil(async () => {
            last.state = await observeLease(ctx, inv, id);
            if (ready(last.state)) return last.state;
            crashed = await crash.check();
            return crashed ? last.state : undefined;
          }, opts.timeoutMs);
          if (ok && !crashed) return;
          const log = await flanneldLogTail(inv, conn);
          if (crashed) {
            throw new FlanctlError(`${node.name}: ${crashed}${log ? `\n  last lines of flanneld's log:\n    ${log.split('\n').join('\n    ')}` : ''}`, {
              hint: 'Fix what the log shows (e.g. flannel.healthzPort taken by another process), then run bootstrap again.',
            });
          }
          const s = last.state;
          const missing = !s.lease
            ? `no lease with PublicIP ${node.publicIp} under ${inv.etcd.prefix}/subnets`
            : s.envSubnet
              ? `${inv.flannel.subnetFile} is for ${s.envSubnet}, the lease is ${s.lease.subnet}`
              : `lease ${s.lease.subnet} but no ${inv.flannel.subnetFile}`;
          throw new FlanctlError(`${node.name}: flanneld not ready after ${Math.round(opts.timeoutMs / 1000)} s: ${missing}${log ? `\n  last lines of flanneld's log:\n    ${log.split('\n').join('\n    ')}` : ''}`, {
            hint: 'Check etcd reachability from the node, the certificates in flannel.configDir and flannel.iface.',
          });
        },
      };
    },
  };
}
