/**
 * SFTP uploads (connector/ssh-sftp.ts): every byte written at its offset, the file created
 * exclusively and chmodded; large uploads across all connections are bounded (memory), small files
 * never wait for them.
 */
import { describe, expect, it } from 'vitest';
import { LARGE_UPLOAD_BYTES, LARGE_UPLOADS_AT_ONCE, sftpWriteFile, writeChunk, type Cb, type SFTPWrapper } from '../../src/connector/ssh-sftp.js';

/** A fake server: files by handle, every write answered after a tick; counts open large files. */
function fakeSftp(stats: { open: number; maxOpen: number; done: string[] }) {
  const files = new Map<string, { path: string; data: Buffer; mode?: number }>();
  let next = 0;
  const later = (fn: () => void) => setTimeout(fn, 1);
  const sftp: SFTPWrapper = {
    open(path, flags, attrs, cb: Cb<Buffer>) {
      expect(flags).toBe('wx');
      const h = Buffer.from(String(next++));
      files.set(h.toString(), { path, data: Buffer.alloc(0) });
      stats.open++;
      stats.maxOpen = Math.max(stats.maxOpen, stats.open);
      later(() => cb(null, h));
    },
    write(handle, buf, off, len, pos, cb) {
      const f = files.get(handle.toString())!;
      if (f.data.length < pos + len) f.data = Buffer.concat([f.data, Buffer.alloc(pos + len - f.data.length)]);
      buf.copy(f.data, pos, off, off + len);
      later(() => cb(null));
    },
    fchmod(handle, mode, cb) {
      files.get(handle.toString())!.mode = mode;
      later(() => cb(null));
    },
    close(handle, cb) {
      stats.open--;
      stats.done.push(files.get(handle.toString())!.path);
      later(() => cb(null));
    },
    unlink: (_p, cb) => cb(null),
    ext_openssh_rename: (_a, _b, cb) => cb(null),
    readFile: (_p, cb) => cb(null, Buffer.alloc(0)),
  };
  return { sftp, files };
}

/** The SSH packet payload ssh2 would send for one WRITE request of `len` bytes (SFTP.js write). */
const writePacket = (handle: Buffer, len: number) => 4 + 1 + 4 + 4 + handle.length + 8 + 4 + len;

describe('writeChunk', () => {
  it('fills one SSH packet with each WRITE request, header and handle included', () => {
    const handle = Buffer.alloc(4); // OpenSSH sftp-server's handles are 4 bytes
    const chunk = writeChunk({ outgoing: { packetSize: 32768 } }, handle);
    expect(writePacket(handle, chunk)).toBe(32768);
    expect(writePacket(handle, chunk + 1)).toBeGreaterThan(32768); // one byte more would need a second packet
    const long = Buffer.alloc(16);
    expect(writePacket(long, writeChunk({ outgoing: { packetSize: 16384 } }, long))).toBe(16384);
  });

  it('never more than a 32 KiB packet, whatever larger packet the server takes (memory per upload)', () => {
    const handle = Buffer.alloc(4);
    expect(writePacket(handle, writeChunk({ outgoing: { packetSize: 256 * 1024 } }, handle))).toBe(32 * 1024);
  });

  it("uses OpenSSH's 32 KiB session packets when ssh2 does not say", () => {
    const handle = Buffer.alloc(4);
    expect(writePacket(handle, writeChunk({}, handle))).toBe(32 * 1024);
  });

  it('writes a file in requests of that size', async () => {
    const stats = { open: 0, maxOpen: 0, done: [] as string[] };
    const { sftp } = fakeSftp(stats);
    const lens: number[] = [];
    const write = sftp.write.bind(sftp);
    sftp.write = (h, b, off, len, pos, cb) => (lens.push(len), write(h, b, off, len, pos, cb));
    sftp.outgoing = { packetSize: 32768 };
    await sftpWriteFile(sftp, '/opt/x', Buffer.alloc(100_000), 0o755);
    const chunk = writeChunk(sftp, Buffer.from('0'));
    expect(lens.slice(0, -1).every((l) => l === chunk)).toBe(true);
    expect(lens.reduce((a, b) => a + b, 0)).toBe(100_000);
  });
});

describe('sftpWriteFile', () => {
  it('writes every byte at its offset and sets the mode', async () => {
    const stats = { open: 0, maxOpen: 0, done: [] as string[] };
    const { sftp, files } = fakeSftp(stats);
    const content = Buffer.from(Array.from({ length: 200_000 }, (_, i) => i % 251));
    await sftpWriteFile(sftp, '/opt/x', content, 0o755);
    const [f] = files.values();
    expect(f.data.equals(content)).toBe(true);
    expect(f.mode).toBe(0o755);
  });

  it(`at most ${LARGE_UPLOADS_AT_ONCE} large uploads at once across connections; a small file does not wait for them`, async () => {
    const stats = { open: 0, maxOpen: 0, done: [] as string[] };
    const big = Buffer.alloc(LARGE_UPLOAD_BYTES);
    const conns = Array.from({ length: 3 * LARGE_UPLOADS_AT_ONCE }, () => fakeSftp(stats));
    const uploads = conns.map((c, i) => sftpWriteFile(c.sftp, `/big/${i}`, big, 0o755));
    await new Promise((r) => setTimeout(r, 5));
    const small = fakeSftp(stats);
    await sftpWriteFile(small.sftp, '/small', Buffer.from('x'), 0o644);
    expect(stats.done.filter((p) => p.startsWith('/big/')).length, 'the small file finished before most large ones').toBeLessThan(conns.length);
    await Promise.all(uploads);
    expect(stats.maxOpen).toBeLessThanOrEqual(LARGE_UPLOADS_AT_ONCE + 1); // + the small one
    expect(stats.done).toHaveLength(conns.length + 1);
    for (const c of conns) expect([...c.files.values()][0].data.length).toBe(LARGE_UPLOAD_BYTES);
  });
});
