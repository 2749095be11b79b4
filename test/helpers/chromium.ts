/**
 * Headless Chromium (Debian's `chromium`) driven over the DevTools protocol on a pipe
 * (--remote-debugging-pipe: we write JSON messages ending in \0 on its fd 3 and read its fd 4).
 * No npm dependency and no network: open a file:// URL, evaluate expressions in the page, list the
 * requests the page made, take a full-page PNG. Runs as root with --no-sandbox.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';

export const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

type Msg = { id?: number; method?: string; params?: any; result?: any; error?: { message: string }; sessionId?: string };

export interface Page {
  evaluate<T = unknown>(expression: string): Promise<T>;
  /** URLs the page requested (the document itself included). */
  requests: string[];
  /** Console messages and page errors. */
  logs: string[];
  screenshot(): Promise<Buffer>;
  close(): Promise<void>;
}

export async function openPage(url: string, opts: { width?: number; height?: number } = {}): Promise<Page> {
  if (!CHROMIUM) throw new Error('chromium is not installed (Debian package `chromium`; .ci/run installs it)');
  const profile = mkdtempSync(join(tmpdir(), 'flanctl-chromium-'));
  const args = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--no-default-browser-check', '--hide-scrollbars', '--mute-audio',
    '--disable-background-networking', '--disable-component-update', '--disable-sync', '--remote-debugging-pipe', `--user-data-dir=${profile}`, 'about:blank'];
  const child: ChildProcess = spawn(CHROMIUM, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
  const toChrome = child.stdio[3] as Writable;
  const fromChrome = child.stdio[4] as Readable;
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  const listeners: Array<(m: Msg) => void> = [];
  let buf = Buffer.alloc(0);
  fromChrome.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    for (let end = buf.indexOf(0); end >= 0; end = buf.indexOf(0)) {
      const msg = JSON.parse(buf.subarray(0, end).toString('utf8')) as Msg;
      buf = buf.subarray(end + 1);
      if (msg.id !== undefined && pending.has(msg.id)) {
        const p = pending.get(msg.id)!;
        pending.delete(msg.id);
        if (msg.error) p.reject(new Error(msg.error.message)); else p.resolve(msg.result);
      } else listeners.forEach((l) => l(msg));
    }
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  void exited.then(() => pending.forEach((p) => p.reject(new Error(`chromium exited: ${stderr.slice(-1000)}`))));
  let nextId = 1;
  const send = (method: string, params: object = {}, sessionId?: string): Promise<any> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      toChrome.write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + '\0');
    });
  const waitFor = (method: string, sessionId: string) =>
    new Promise<Msg>((resolve) => listeners.push((m) => m.method === method && m.sessionId === sessionId && resolve(m)));

  const close = async () => {
    await send('Browser.close').catch(() => undefined);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    rmSync(profile, { recursive: true, force: true });
  };
  try {
    const { targetId } = await send('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await send('Target.attachToTarget', { targetId, flatten: true });
    const requests: string[] = [];
    const logs: string[] = [];
    listeners.push((m) => {
      if (m.sessionId !== sessionId) return;
      if (m.method === 'Network.requestWillBeSent') requests.push(m.params.request.url);
      if (m.method === 'Runtime.consoleAPICalled') logs.push(`${m.params.type}: ${m.params.args.map((a: any) => a.value ?? a.description).join(' ')}`);
      if (m.method === 'Runtime.exceptionThrown') logs.push(`exception: ${m.params.exceptionDetails.text}`);
      if (m.method === 'Log.entryAdded') logs.push(`${m.params.entry.level}: ${m.params.entry.text}`);
    });
    for (const d of ['Page', 'Network', 'Runtime', 'Log']) await send(`${d}.enable`, {}, sessionId);
    const width = opts.width ?? 1400;
    await send('Emulation.setDeviceMetricsOverride', { width, height: opts.height ?? 1000, deviceScaleFactor: 1, mobile: false }, sessionId);
    const loaded = waitFor('Page.loadEventFired', sessionId);
    const nav = await send('Page.navigate', { url }, sessionId);
    if (nav.errorText) throw new Error(`${url}: ${nav.errorText}`);
    await loaded;
    return {
      requests,
      logs,
      async evaluate<T>(expression: string): Promise<T> {
        const r = await send('Runtime.evaluate', { expression, returnByValue: true }, sessionId);
        if (r.exceptionDetails) throw new Error(`${expression}: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
        return r.result.value as T;
      },
      async screenshot(): Promise<Buffer> {
        const { cssContentSize } = await send('Page.getLayoutMetrics', {}, sessionId);
        const height = Math.ceil(opts.height ?? cssContentSize.height);
        await send('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: 1, mobile: false }, sessionId);
        const { data } = await send('Page.captureScreenshot', { format: 'png', clip: { x: 0, y: 0, width, height, scale: 1 } }, sessionId);
        return Buffer.from(data, 'base64');
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
