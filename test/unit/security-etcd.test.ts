/**
 * Issue 12, finding 1: etcd traffic never falls back from https to plain http, http only with
 * etcd.insecure (and a warning on every run), and a secret (the wireguard PSK) is never sent over http.
 * Reproduced against a plain HTTP listener on 127.0.0.1 that records what it receives.
 */
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import NetworkConfig from '../../src/commands/network-config.js';
import { openKv, v2Kv } from '../../src/kv/index.js';
import { loadInventory } from '../../src/model/inventory.js';
import { runCommand } from './run-command.js';

let server: Server;
let port: number;
let received: { method: string; url: string; body: string }[] = [];
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'flanctl-sec-etcd-'));
  writeFileSync(join(dir, 'wg.psk'), 'c2VjcmV0LXByZS1zaGFyZWQta2V5LW5vYm9keS1zZWVzPQ==\n', { mode: 0o600 });
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push({ method: req.method ?? '', url: req.url ?? '', body });
      res.setHeader('content-type', 'application/json');
      if (req.method === 'GET') {
        res.statusCode = 404;
        res.end(JSON.stringify({ errorCode: 100, message: 'Key not found' }));
      } else {
        res.statusCode = 201;
        res.end(JSON.stringify({ action: 'set', node: { key: req.url, value: '' } }));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  received = [];
});

function writeInventory(etcd: Record<string, unknown>, backend: Record<string, unknown>): string {
  const file = join(dir, `inv-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, stringify({
    network: { cidr: '10.244.0.0/16', backend },
    etcd: { api: 'v2', ...etcd },
    flannel: { tarball: 'flannel.tar.gz' },
    nodes: [{ name: 'node1', host: '10.77.0.11' }],
  }));
  return file;
}

const wireguard = { type: 'wireguard', psk: 'wg.psk' };

describe('etcd: no plaintext fallback, no secret over http', () => {
  it('refuses endpoints that mix https and http (the reproduced PSK leak), sending nothing', async () => {
    const file = writeInventory({ endpoints: ['https://127.0.0.1:1', `http://127.0.0.1:${port}`] }, wireguard);
    const r = await runCommand(NetworkConfig, ['--apply', '-i', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/etcd\.endpoints\[1\].*same scheme/);
    expect(r.stdout).not.toMatch(/written/);
    expect(received).toEqual([]);
  });

  it('refuses plain http unless etcd.insecure says so', async () => {
    const file = writeInventory({ endpoints: [`http://127.0.0.1:${port}`] }, { type: 'vxlan' });
    const r = await runCommand(NetworkConfig, ['--apply', '-i', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/etcd\.endpoints\[0\].*plain http.*etcd\.insecure: true/);
    expect(received).toEqual([]);
  });

  it('never sends the wireguard PSK over http, even with etcd.insecure', async () => {
    const file = writeInventory({ endpoints: [`http://127.0.0.1:${port}`], insecure: true }, wireguard);
    const r = await runCommand(NetworkConfig, ['--apply', '-i', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/network\.backend\.psk.*never sends a secret over http/);
    expect(received).toEqual([]);
  });

  it('with etcd.insecure works over http and warns on every run', async () => {
    const file = writeInventory({ endpoints: [`http://127.0.0.1:${port}`], insecure: true }, { type: 'vxlan' });
    const r = await runCommand(NetworkConfig, ['--apply', '-i', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/Warning: etcd\.insecure: .* plain http/);
    expect(received.map((q) => q.method)).toEqual(['GET', 'PUT']);
    const again = await runCommand(NetworkConfig, ['-i', file]);
    expect(again.stderr).toMatch(/Warning: etcd\.insecure/);
  });

  it('the kv layer refuses mixed schemes and secrets over http on its own (defence in depth)', async () => {
    expect(() => v2Kv({ endpoints: ['https://127.0.0.1:1', `http://127.0.0.1:${port}`] })).toThrow(/mix http and https/);
    const file = writeInventory({ endpoints: [`http://127.0.0.1:${port}`], insecure: true }, { type: 'vxlan' });
    const inv = await loadInventory(file);
    await expect(openKv({ ...inv, etcd: { ...inv.etcd, insecure: false } })).rejects.toThrow(/plain http/);
    const kv = await openKv(inv);
    await expect(kv.put('/coreos.com/network/config', '{"Network":"10.244.0.0/16","Backend":{"Type":"wireguard","PSK":"x"}}')).rejects.toThrow(/holds a secret/);
    expect(received).toEqual([]);
    await kv.close();
  });
});
