/**
 * SFTP writes and calls: a file written with many requests in flight, then chmod (used by ssh.ts as
 * root, where no remote shell start is needed).
 */
export type Cb<T = unknown> = (err: (Error & { code?: unknown }) | null | undefined, v?: T) => void;

export interface SFTPWrapper {
  open(path: string, flags: string, attrs: { mode: number }, cb: Cb<Buffer>): void;
  write(handle: Buffer, buf: Buffer, off: number, len: number, pos: number, cb: Cb): void;
  fchmod(handle: Buffer, mode: number, cb: Cb): void;
  close(handle: Buffer, cb: Cb): void;
  unlink(path: string, cb: Cb): void;
  ext_openssh_rename(from: string, to: string, cb: Cb): void;
  readFile(path: string, cb: Cb<Buffer>): void;
  /** ssh2's channel toward the server: the largest SSH packet the server takes on it. */
  outgoing?: { packetSize?: number };
}

/** OpenSSH's session channel packet size (CHAN_SES_PACKET_DEFAULT), when ssh2 does not say. */
const SSH_PACKET = 32 * 1024;
/** An SFTP WRITE's bytes around its data: length, type, request id, handle length, offset, data length. */
const WRITE_HEADER = 4 + 1 + 4 + 4 + 8 + 4;
const IN_FLIGHT = 64;

/**
 * The data per WRITE request: as much as fits in one SSH packet with its header. A 32 KiB chunk was
 * 29 bytes too large, so ssh2 sent every request as a full packet and a 29-byte one: twice the
 * packets, encryptions and socket writes (a 20-node bootstrap with a 40 MB flanneld made ~51,000).
 * Never more than OpenSSH's 32 KiB packet: IN_FLIGHT requests are held per upload, and a server that
 * takes larger packets must not multiply that memory.
 */
export function writeChunk(sftp: Pick<SFTPWrapper, 'outgoing'>, handle: Buffer): number {
  const packet = Math.min(sftp.outgoing?.packetSize || SSH_PACKET, SSH_PACKET);
  return Math.max(1024, packet - WRITE_HEADER - handle.length);
}

export function sftpCall<T>(fn: (cb: Cb<T>) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v as T))));
}

/**
 * Large uploads (a 40 MB flanneld) at once across all connections of this process: each one keeps
 * IN_FLIGHT packets of CHUNK bytes plus ssh2's cipher buffers alive, so memory grew with the node
 * count (20 nodes: ~140 MB more than with a small binary) while the one control-side thread that
 * encrypts them was already the limit. Small files are never held back.
 */
export const LARGE_UPLOAD_BYTES = 1024 * 1024;
export const LARGE_UPLOADS_AT_ONCE = 6;
let largeRunning = 0;
const largeWaiting: Array<() => void> = [];

async function withLargeUploadSlot<T>(fn: () => Promise<T>): Promise<T> {
  if (largeRunning >= LARGE_UPLOADS_AT_ONCE) await new Promise<void>((resolve) => largeWaiting.push(resolve));
  else largeRunning++;
  try {
    return await fn();
  } finally {
    const next = largeWaiting.shift();
    if (next) next(); // the slot passes on
    else largeRunning--;
  }
}

/** Upload a buffer with up to IN_FLIGHT write requests outstanding (like ssh2's fastPut). The file is
 * created exclusively ('wx' = O_CREAT|O_EXCL on the server): an existing file or a planted symlink fails. */
export async function sftpWriteFile(sftp: SFTPWrapper, path: string, content: Buffer, mode: number): Promise<void> {
  if (content.length >= LARGE_UPLOAD_BYTES) return withLargeUploadSlot(() => writeFile(sftp, path, content, mode));
  return writeFile(sftp, path, content, mode);
}

async function writeFile(sftp: SFTPWrapper, path: string, content: Buffer, mode: number): Promise<void> {
  const handle = await sftpCall<Buffer>((cb) => sftp.open(path, 'wx', { mode }, cb));
  const CHUNK = writeChunk(sftp, handle);
  try {
    let next = 0;
    const worker = async () => {
      while (next < content.length) {
        const off = next;
        next += CHUNK;
        const len = Math.min(CHUNK, content.length - off);
        await sftpCall((cb) => sftp.write(handle, content, off, len, off, cb));
      }
    };
    await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, Math.ceil(content.length / CHUNK) || 1) }, worker));
    await sftpCall((cb) => sftp.fchmod(handle, mode, cb));
  } finally {
    await sftpCall((cb) => sftp.close(handle, cb)).catch(() => {});
  }
}

