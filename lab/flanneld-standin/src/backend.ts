/** What main.ts needs from a backend (vxlan, host-gw). */
import type { Net4 } from './ip4.js';
import type { LeaseAttrs, PeerLease } from './lease-format.js';

export interface Backend {
  /** The canonical lower-case name written into leases as BackendType. */
  readonly type: string;
  /** Before the lease: create devices, check preconditions; returns the lease attributes. */
  prepare(): Promise<LeaseAttrs>;
  /** FLANNEL_MTU (known after prepare()). */
  mtu(): number;
  /** After the lease: configure the node's own side (vxlan: address on flannel.<VNI>, link up). */
  configureOwn(subnet: Net4): Promise<void>;
  /** A peer lease appeared or changed. */
  addPeer(lease: PeerLease): Promise<void>;
  /**
   * Several peer leases at once (the lease list at start, a watch response with many events): the
   * same kernel state as addPeer for each, in a few `ip -batch` / `bridge -batch` processes. A real
   * flanneld talks netlink and spawns nothing; a process per route made the stand-in's start-up
   * cost grow with the cluster (20 nodes: ~1100 processes) where the real one's does not.
   */
  addPeers?(leases: PeerLease[]): Promise<void>;
  /** A peer lease vanished. */
  removePeer(lease: PeerLease): Promise<void>;
  /** Called every 10 s with the current peers (host-gw re-adds missing routes). */
  resync?(peers: PeerLease[]): Promise<void>;
}
