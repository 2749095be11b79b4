/**
 * Issue 12, finding 2 (the parts that need no root): the lab dir must be new, empty or a lab's own, and
 * every value read back from state.json is checked against the lab's own names before anything is done.
 * The root reproduction (kill, veth, tmpfs, purge) is test/e2e/security.test.ts.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { claimLabDir, labDir, purgeLabDir } from '../../src/lab/labdir.js';
import { readState, saveState, emptyState } from '../../src/lab/state.js';
import { nodeNames } from '../../src/lab/names.js';

const tmp = mkdtempSync(join(tmpdir(), 'flanctl-sec-lab-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const fresh = () => {
  const d = join(tmp, `d${n++}`);
  mkdirSync(d, { mode: 0o700 });
  return d;
};

describe('the lab dir', () => {
  it('refuses system trees by real path, also through a symlink', () => {
    for (const d of ['/bin', '/lib', '/usr/local/lab', '/run/x', '/']) expect(() => labDir(d)).toThrow(/cannot be/);
    const link = join(tmp, 'to-bin');
    symlinkSync('/bin', link);
    expect(() => labDir(link)).toThrow(/really \/(usr\/)?bin/);
    expect(() => labDir(join(link, 'sub'))).toThrow(/cannot be/);
  });

  it('lab up refuses a directory holding anything but a lab (the user\'s notes, /home, /root, /opt)', () => {
    const d = fresh();
    writeFileSync(join(d, 'notes.txt'), 'mine\n');
    expect(() => claimLabDir(d)).toThrow(/holds files that are not a lab's \(notes\.txt\)/);
    for (const sys of ['/home', '/root', '/opt']) {
      if (existsSync(sys) && readdirSync(sys).length) expect(() => claimLabDir(sys)).toThrow(/not a lab's/);
    }
    const ok = join(fresh(), 'new', 'lab');
    expect(claimLabDir(ok)).toBe(ok);
    mkdirSync(join(ok, 'nodes'));
    writeFileSync(join(ok, 'state.json'), '{}');
    expect(claimLabDir(ok)).toBe(ok);
  });

  it('refuses a lab dir others can write to', () => {
    const d = fresh();
    chmodSync(d, 0o777);
    expect(() => claimLabDir(d)).toThrow(/writable by group or others/);
  });

  it('purge deletes only the lab\'s own entries and keeps the dir when anything else is in it', () => {
    const d = fresh();
    for (const e of ['nodes/node1', 'ssh', 'pki', 'etcd/data']) mkdirSync(join(d, e), { recursive: true });
    writeFileSync(join(d, 'state.json'), '{}');
    writeFileSync(join(d, 'notes.txt'), 'mine\n');
    expect(purgeLabDir(d)).toEqual({ deleted: false, kept: ['notes.txt'] });
    expect(readFileSync(join(d, 'notes.txt'), 'utf8')).toBe('mine\n');
    expect(existsSync(join(d, 'nodes'))).toBe(false);
    rmSync(join(d, 'notes.txt'));
    expect(purgeLabDir(d)).toEqual({ deleted: true, kept: [] });
    expect(existsSync(d)).toBe(false);
  });
});

describe('state.json is checked before anything is acted on', () => {
  const good = (dir: string) => ({
    version: 1, dir, index: 7, bridge: 'flanlab7', mounts: [join(dir, 'nodes')], createdAt: 'x',
    nodes: [{ ...nodeNames(7, 1) }], etcd: { endpoint: 'https://10.77.7.1:2379', dataDir: join(dir, 'etcd', 'data') },
  });
  const withState = (patch: (s: ReturnType<typeof good>) => unknown) => {
    const d = fresh();
    const s = good(d);
    writeFileSync(join(d, 'state.json'), JSON.stringify(patch(s) ?? s));
    return d;
  };

  it('accepts what the lab writes, and writes back only into the real lab dir', () => {
    const elsewhere = fresh();
    const d = withState((s) => ({ ...s, dir: elsewhere }));
    const st = readState(d)!;
    expect(st.dir).toBe(d);
    saveState(st);
    expect(existsSync(join(elsewhere, 'state.json'))).toBe(false);
    expect(JSON.parse(readFileSync(join(d, 'state.json'), 'utf8')).dir).toBe(d);
  });

  it('refuses names, mounts, paths and processes that are not the lab\'s', () => {
    const cases: [string, (s: ReturnType<typeof good>) => unknown, RegExp][] = [
      ['veth', (s) => void (s.nodes[0].veth = 'eth0'), /nodes\[0\]\.veth: "eth0" is not the lab's veth/],
      ['netns', (s) => void (s.nodes[0].netns = 'mynetns'), /nodes\[0\]\.netns/],
      ['node name', (s) => void (s.nodes[0].name = '../../etc'), /nodes\[0\]\.name/],
      ['bridge', (s) => void (s.bridge = 'docker0'), /bridge: "docker0"/],
      ['mount outside', (s) => void (s.mounts = ['/mnt/data']), /mounts\[0\]: "\/mnt\/data" is not below the lab dir/],
      ['mount via ..', (s) => void (s.mounts = [`${s.dir}/../elsewhere`]), /mounts\[0\]/],
      ['etcd data dir', (s) => void (s.etcd.dataDir = '/var/lib/etcd'), /etcd\.dataDir/],
      ['unrelated live process', (s) => Object.assign(s.nodes[0], { init: { pid: process.pid, start: startOf(process.pid) } }), /nodes\[0\]\.init: PID \d+ is alive but is not this lab's process/],
      ['unrelated etcd pid', (s) => Object.assign(s.etcd, { pid: { pid: process.pid, start: startOf(process.pid) } }), /etcd\.pid: PID/],
    ];
    for (const [what, patch, msg] of cases) {
      const d = withState((s) => (patch(s), s));
      expect(() => readState(d), what).toThrow(msg);
    }
    const link = fresh();
    const d = withState((s) => void (s.mounts = [join(s.dir, 'm')]));
    symlinkSync(link, join(d, 'm'));
    expect(() => readState(d)).toThrow(/mounts\[0\]/);
  });

  it('the state file is never written through a planted symlink', () => {
    const d = fresh();
    const target = join(fresh(), 'victim');
    writeFileSync(target, 'keep\n');
    symlinkSync(target, join(d, 'state.json.tmp'));
    saveState(emptyState(d));
    expect(readFileSync(target, 'utf8')).toBe('keep\n');
  });
});

function startOf(pid: number): number {
  const t = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(t.slice(t.lastIndexOf(')') + 2).split(' ')[19]);
}
