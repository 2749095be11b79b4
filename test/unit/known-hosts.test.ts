import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  entryMatchesHost, fingerprintSha256, hostVerifier, knownHostName, parseKnownHosts, recordHostKey, type HostTrustOptions,
} from '../../src/connector/known-hosts.js';
import { HostKeyError } from '../../src/errors.js';

// Ground truth produced by OpenSSH 9.2 (ssh-keygen -t …; ssh-keygen -lf; ssh-keygen -H), not by our code.
const K1 = 'AAAAC3NzaC1lZDI1NTE5AAAAIAjc5ap/EV9ReN+OBm2ALmSu0RgPIqHok9/EYscAA6/D';
const K1_FP = 'SHA256:XVbR1W+dIHb1elvzTvSH1IuLSQRIKkoNKeFq9RSHo2k';
const K2 = 'AAAAC3NzaC1lZDI1NTE5AAAAIDG2Oah8jA6Lvm2siiD2b2+VQo5/k23ciwcYf9yAYV2G';
const K2_FP = 'SHA256:1lWgz4gDnmT3mjqiCkfEP4dmTgO2uwfsu4qgJKcG240';
const K3 = 'AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBDyQF/CJrF2oZCVTipWfw441HRXUGuweVH+/4DAVjeqsTTmuTU8CgjuBAxehtG/kAOBFx4wKklxEwZBqqUKTPCY=';
const K3_FP = 'SHA256:6I0vV66McoB+s0zc4q0IrPOOMk+CMSbW+Rg65zXY0qE';
// `ssh-keygen -H` of "node1.example <K1>" and "[10.0.0.5]:2222 <K1>"
const HASHED = [
  `|1|1YKbiZlbMuYaU5+V52bx3lh/52A=|SKQRM2sNUmMcgeshdbQ3uS8Nw44= ssh-ed25519 ${K1}`,
  `|1|Z0IazGFhgbbzYZl5QSj66Fq8tvs=|w+mKBZqdTUfFhFG7DFdsgi48fjc= ssh-ed25519 ${K1}`,
].join('\n');
const blob = (b64: string) => Buffer.from(b64, 'base64');

let dir: string;
let file: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flanctl-kh-'));
  file = join(dir, 'known_hosts');
});
afterEach(() => rm(dir, { recursive: true, force: true }));

function verify(opts: Partial<HostTrustOptions> & { host: string }, key: Buffer) {
  return hostVerifier({ label: 'node1', port: 22, knownHostsFile: file, ...opts }).then(
    (v) => new Promise<{ ok: boolean; v: typeof v }>((resolve) => v.verify(key, (ok) => resolve({ ok, v }))),
  );
}

describe('fingerprints and parsing', () => {
  it('computes SHA256 fingerprints exactly as ssh-keygen -lf', () => {
    expect(fingerprintSha256(blob(K1))).toBe(K1_FP);
    expect(fingerprintSha256(blob(K2))).toBe(K2_FP);
    expect(fingerprintSha256(blob(K3))).toBe(K3_FP);
  });

  it('names non-22 ports as [host]:port', () => {
    expect(knownHostName('Node1', 22)).toBe('node1');
    expect(knownHostName('10.0.0.5', 2222)).toBe('[10.0.0.5]:2222');
  });

  it('parses plain, hashed, marker, comment and malformed lines', () => {
    const text = [
      '# comment', '', `a.example,b.example ssh-ed25519 ${K1} comment here`,
      `@revoked * ssh-ed25519 ${K2}`, `@cert-authority *.example ssh-ed25519 ${K2}`,
      'broken line', `x ssh-rsa ${K1}`, HASHED,
    ].join('\n');
    const entries = parseKnownHosts(text);
    expect(entries.map((e) => [e.line, e.marker, e.hosts.kind])).toEqual([
      [3, undefined, 'plain'], [4, 'revoked', 'plain'], [5, 'cert-authority', 'plain'], [8, undefined, 'hashed'], [9, undefined, 'hashed'],
    ]);
  });

  it('matches hashed entries made by ssh-keygen -H, including [host]:port', () => {
    const [h1, h2] = parseKnownHosts(HASHED);
    expect(entryMatchesHost(h1, 'node1.example')).toBe(true);
    expect(entryMatchesHost(h1, 'node2.example')).toBe(false);
    expect(entryMatchesHost(h2, '[10.0.0.5]:2222')).toBe(true);
    expect(entryMatchesHost(h2, '10.0.0.5')).toBe(false);
  });

  it('honours wildcards and negation', () => {
    const [e] = parseKnownHosts(`*.lab,!bad.lab,10.0.0.? ssh-ed25519 ${K1}`);
    expect(entryMatchesHost(e, 'n1.lab')).toBe(true);
    expect(entryMatchesHost(e, 'bad.lab')).toBe(false);
    expect(entryMatchesHost(e, '10.0.0.7')).toBe(true);
    expect(entryMatchesHost(e, '10.0.0.77')).toBe(false);
  });
});

describe('hostVerifier', () => {
  it('accepts the known key (plain and hashed) and refuses nothing else', async () => {
    await writeFile(file, `node1.example ssh-ed25519 ${K1}\n`);
    expect((await verify({ host: 'node1.example' }, blob(K1))).ok).toBe(true);
    await writeFile(file, HASHED + '\n');
    expect((await verify({ host: 'node1.example' }, blob(K1))).ok).toBe(true);
    expect((await verify({ host: '10.0.0.5', port: 2222 }, blob(K1))).ok).toBe(true);
  });

  it('refuses an unknown host with its fingerprint and the --trust-new-hosts hint, writing nothing', async () => {
    const { ok, v } = await verify({ host: 'new.example' }, blob(K2));
    expect(ok).toBe(false);
    const p = v.problem();
    expect(p).toBeInstanceOf(HostKeyError);
    expect(p!.message).toContain(K2_FP);
    expect(p!.message).toContain('node1');
    expect(p!.hint).toContain('--trust-new-hosts');
    await expect(readFile(file)).rejects.toThrow(/ENOENT/);
  });

  it('records an unknown host with trustNewHosts, and the next verifier accepts it from the file', async () => {
    const first = await verify({ host: '10.1.2.3', port: 2200, trustNewHosts: true }, blob(K2));
    expect(first.ok).toBe(true);
    expect(first.v.recorded()).toBe(K2_FP);
    expect(await readFile(file, 'utf8')).toBe(`[10.1.2.3]:2200 ssh-ed25519 ${K2}\n`);
    const again = await verify({ host: '10.1.2.3', port: 2200 }, blob(K2));
    expect(again.ok).toBe(true);
  });

  it('always refuses a changed key, even with trustNewHosts, and leaves the file alone', async () => {
    const before = `node1.example ssh-ed25519 ${K1}\n`;
    await writeFile(file, before);
    const { ok, v } = await verify({ host: 'node1.example', trustNewHosts: true }, blob(K2));
    expect(ok).toBe(false);
    expect(v.problem()!.message).toMatch(/HOST KEY CHANGED/);
    expect(v.problem()!.message).toContain(K2_FP);
    expect(v.problem()!.message).toContain(`${file}:1`);
    expect(await readFile(file, 'utf8')).toBe(before);
  });

  it('treats a key of another type than the known one as changed', async () => {
    await writeFile(file, `node1.example ecdsa-sha2-nistp256 ${K3}\n`);
    const { ok, v } = await verify({ host: 'node1.example', trustNewHosts: true }, blob(K1));
    expect(ok).toBe(false);
    expect(v.problem()!.message).toContain(K3_FP);
    expect(v.algorithms[0]).toBe('ecdsa-sha2-nistp256');
  });

  it('lets a pinned fingerprint win over the file, and refuses a mismatching pin', async () => {
    await writeFile(file, `node1.example ssh-ed25519 ${K1}\n`);
    expect((await verify({ host: 'node1.example', pinnedFingerprint: K2_FP }, blob(K2))).ok).toBe(true);
    const bad = await verify({ host: 'unknown.example', pinnedFingerprint: K1_FP, trustNewHosts: true }, blob(K2));
    expect(bad.ok).toBe(false);
    expect(bad.v.problem()!.message).toContain('pinned');
  });

  it('refuses a key marked @revoked', async () => {
    await writeFile(file, `@revoked * ssh-ed25519 ${K2}\n`);
    const { ok, v } = await verify({ host: 'any.example', trustNewHosts: true }, blob(K2));
    expect(ok).toBe(false);
    expect(v.problem()!.message).toContain('@revoked');
  });

  it('serializes parallel appends: every new host once, no torn lines', async () => {
    const hosts = Array.from({ length: 20 }, (_, i) => `h${i}.example`);
    await Promise.all([...hosts, ...hosts].map((h) => recordHostKey(file, h, 'ssh-ed25519', blob(K1))));
    const entries = parseKnownHosts(await readFile(file, 'utf8'));
    expect(entries.length).toBe(20);
    for (const h of hosts) expect(entries.filter((e) => entryMatchesHost(e, h)).length).toBe(1);
  });
});
