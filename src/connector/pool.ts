/**
 * One connection per host for a whole command run: get(nodeName) connects lazily on first use and
 * returns the same Connector afterwards (concurrent callers share the pending connect).
 * A jump host, when configured, is connected once and shared by every node.
 * Every connector is a caching one (facts.ts): the engine and preflight prefetch a node's reads in
 * one round trip. FLANCTL_EXEC_STATS=<file>: at closeAll, one JSON line per node is appended to the
 * file with how often each node's connection went to the wire (a debug and test aid);
 * FLANCTL_FACTS=off turns the batches off (every read its own round trip, as before; to compare).
 */
import { FlanctlError, SshError, UsageError, errorMessage } from '../errors.js';
import type { Inventory, NodeSpec } from '../model/inventory.js';
import { setMaxListeners } from 'node:events';
import { appendFileSync } from 'node:fs';
import type { Connector } from './connector.js';
import { cachingConnector, type CachingConnector } from './facts.js';
import { connectSsh, openJump, type Client } from './ssh.js';

export interface PoolOptions {
  trustNewHosts?: boolean;
  /** Replace SSH (tests, lab): how to connect to a node. */
  connect?: (node: NodeSpec) => Promise<Connector>;
}

export interface Pool {
  get(nodeName: string): Promise<CachingConnector>;
  closeAll(): Promise<void>;
}

export function openPool(inv: Inventory, opts: PoolOptions = {}): Pool {
  const conns = new Map<string, Promise<CachingConnector>>();
  let jump: Promise<{ client: Client; dispose(): void }> | undefined;
  const sharedJump = async (): Promise<Client> => {
    jump ??= openJump(inv, !!opts.trustNewHosts).then((ssh) => ({ client: ssh.connection as unknown as Client, dispose: () => ssh.dispose() }));
    return (await jump).client;
  };
  // closeAll drops the connects still under way instead of waiting for them (up to ssh.connectTimeoutMs
  // for a host that does not answer): a command that failed on etcd while connecting ends at once.
  const controller = () => {
    const c = new AbortController();
    setMaxListeners(0, c.signal); // one listener per connect under way: not a leak
    return c;
  };
  let ending = controller();
  const connect = opts.connect ?? ((node: NodeSpec) => connectSsh(inv, node, { trustNewHosts: opts.trustNewHosts, jump: sharedJump, signal: ending.signal }));

  return {
    get(nodeName) {
      const node = inv.nodes.find((n) => n.name === nodeName);
      if (!node) return Promise.reject(new UsageError(`no node named "${nodeName}" in ${inv.file}`));
      let conn = conns.get(nodeName);
      if (!conn) {
        conn = connect(node).then((c) => cachingConnector(c, { batch: process.env.FLANCTL_FACTS !== 'off' }), (e: unknown) => {
          if (e instanceof FlanctlError) throw e;
          throw new SshError(`${node.name} (${node.host}): ${errorMessage(e)}`, { cause: e });
        });
        conns.set(nodeName, conn);
      }
      return conn;
    },

    async closeAll() {
      const all = [...conns.values()];
      conns.clear();
      ending.abort();
      ending = controller();
      await Promise.all(all.map((p) => p.then((c) => c.close(), () => {})));
      const statsFile = process.env.FLANCTL_EXEC_STATS;
      if (statsFile) {
        const lines = await Promise.all(all.map((p) => p.then((c) => `${JSON.stringify({ node: c.name, pid: process.pid, ...c.stats })}\n`, () => '')));
        appendFileSync(statsFile, lines.join(''));
      }
      if (jump) await jump.then((j) => j.dispose(), () => {});
      jump = undefined;
    },
  };
}
