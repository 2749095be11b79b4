import { Flags } from '@oclif/core';
import { FlanctlCommand } from '../command.js';
import { UsageError } from '../errors.js';
import { openKv } from '../kv/index.js';
import { describeHolder, forceUnlock, lockKey, type LockHolder } from '../kv/lock.js';

export default class Unlock extends FlanctlCommand<typeof Unlock> {
  static summary = "Remove the cluster lock of a flanctl run that died (its holder is not checked).";
  static description = `bootstrap, reset and switch-backend hold a lock in etcd (<prefix>/flanctl/lock, bound to a ${30} s lease renewed while they run) so two runs never change the cluster at once. A holder that was killed frees it when the lease runs out; unlock --force frees it now. Only use it when the holder named in the "holds the cluster lock" message is really gone: a live holder keeps changing hosts.`;
  static examples = ['<%= config.bin %> unlock --force'];
  static flags = {
    force: Flags.boolean({ summary: 'Required: remove the lock whoever holds it.' }),
  };

  async run(): Promise<{ key: string; removed: LockHolder | null }> {
    const inv = await this.inventory();
    if (!this.flags.force) throw new UsageError('unlock removes another run\'s lock: pass --force if its holder is really gone');
    const kv = await openKv(inv);
    try {
      const removed = await forceUnlock(kv, inv.etcd.prefix);
      this.say(removed ? `removed the cluster lock of ${describeHolder(removed)}` : `no cluster lock held (${lockKey(inv.etcd.prefix)})`);
      return { key: lockKey(inv.etcd.prefix), removed: removed ?? null };
    } finally {
      await kv.close();
    }
  }
}
