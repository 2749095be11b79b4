/**
 * Running one command over an SSH connection (ssh2's exec channel), stdin optional, with at most n
 * channels at once per connection. ssh2 ships no types (and @types/ssh2 is not a dependency): the
 * few parts used here are typed below.
 */
import type { Duplex, Readable } from 'node:stream';
import type { ExecOptions } from './connector.js';

export interface ClientChannel {
  stderr: Readable;
  on(ev: 'data', fn: (b: Buffer) => void): this;
  on(ev: 'exit', fn: (code: number | null, signal?: string) => void): this;
  on(ev: 'close', fn: () => void): this;
  end(data?: string | Buffer): void;
  signal(name: string): void;
  close(): void;
}
export interface Client {
  exec(command: string, cb: (err: Error | undefined, stream: ClientChannel) => void): void;
  forwardOut(srcIp: string, srcPort: number, dstIp: string, dstPort: number, cb: (err: Error | undefined, stream: Duplex) => void): void;
  on(ev: 'error', fn: (e: Error) => void): void;
}

export function limiter(n: number) {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (active >= n) await new Promise<void>((r) => waiting.push(r));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}


/** `noStatus`: the channel closed without an exit status (the connection may be dying: see ssh.ts). */
export function execRaw(client: Client, command: string, opts: ExecOptions = {}): Promise<{ code: number; stdout: Buffer; stderr: string; noStatus: boolean }> {
  return new Promise((resolve, reject) => {
    client.exec(command, (err: Error | undefined, stream: ClientChannel) => {
      if (err) return reject(err);
      const out: Buffer[] = [];
      const errs: Buffer[] = [];
      let code: number | null = null;
      let signal: string | undefined;
      let timedOut = false;
      const timer = opts.timeoutMs
        ? setTimeout(() => {
            timedOut = true;
            stream.signal('KILL');
            stream.close();
          }, opts.timeoutMs)
        : undefined;
      stream.on('data', (b: Buffer) => out.push(b));
      stream.stderr.on('data', (b: Buffer) => errs.push(b));
      stream.on('exit', (c: number | null, sig?: string) => {
        code = c;
        signal = sig;
      });
      stream.on('close', () => {
        if (timer) clearTimeout(timer);
        let stderr = Buffer.concat(errs).toString('utf8');
        if (timedOut) stderr += `\n(timed out after ${opts.timeoutMs} ms)`;
        else if (signal) stderr += `\n(killed by SIG${signal})`;
        resolve({ code: timedOut ? 124 : code ?? 255, stdout: Buffer.concat(out), stderr, noStatus: code === null && !timedOut && !signal });
      });
      stream.end(opts.stdin ?? undefined);
    });
  });
}

