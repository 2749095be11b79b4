/**
 * The heavy client libraries (node-ssh with ssh2, etcd3 with gRPC and its .proto parsing) are imported
 * on first use, and evaluated one after the other in the order they were first asked for. Without
 * this, whichever module's files happen to load first is evaluated first: etcd3 (~150 ms of CPU)
 * would take this thread before the SSH sockets are dialled, although the command asked for SSH
 * first. A command that starts its SSH connections before its first etcd call thus gets the
 * handshakes going (sshd's side runs on other cores) while gRPC loads.
 */
let tail: Promise<unknown> = Promise.resolve();

/** Run `load` (a dynamic import) once every load asked for before it has settled. */
export function loadInOrder<T>(load: () => Promise<T>): Promise<T> {
  const p = tail.then(load);
  tail = p.catch(() => undefined);
  return p;
}

/** A load run once (in order, see loadInOrder); later callers share its promise. */
export function loadOnce<T>(load: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= loadInOrder(load));
}
