/**
 * Shell completion and "did you mean", through the built CLI (`npm run build` first) and real shells:
 * `flanctl autocomplete` writes @oclif/plugin-autocomplete's bash and zsh functions plus flanctl's
 * node-name wrapper; bash runs the completion function as it would on <TAB> (COMP_WORDS/COMP_CWORD),
 * zsh is driven interactively in a pseudo-terminal (zsh/zpty) with real <TAB>s. A mistyped command
 * names the nearest command, exits 2 and runs nothing.
 */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/cli.js';

let work: string;
let env: NodeJS.ProcessEnv;

function run(file: string, args: string[], input?: string, timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { cwd: work, env, timeout: timeoutMs }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}
const flanctl = (...args: string[]) => run(process.execPath, [join(repoRoot, 'bin/run.js'), ...args]);
const hasShell = (sh: string) => ['/bin', '/usr/bin'].some((d) => existsSync(join(d, sh)));

beforeAll(async () => {
  if (!existsSync(join(repoRoot, 'dist/commands/verify.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  work = mkdtempSync(join(tmpdir(), 'flanctl-cli-conv-'));
  mkdirSync(join(work, 'bin'));
  mkdirSync(join(work, 'lab'));
  writeFileSync(join(work, 'bin/flanctl'), `#!/bin/sh\nexec "${process.execPath}" "${join(repoRoot, 'bin/run.js')}" "$@"\n`);
  chmodSync(join(work, 'bin/flanctl'), 0o755);
  writeFileSync(join(work, 'inv.yaml'), 'nodes:\n  - name: alpha\n    host: 10.0.0.1\n  - name: beta\n  - name: gamma\n');
  writeFileSync(join(work, 'lab/inventory.yaml'), 'nodes:\n  - name: node1\n  - name: node2\n');
  env = { ...process.env, NO_COLOR: '1', XDG_CACHE_HOME: join(work, 'cache'), HOME: work, PATH: `${join(work, 'bin')}:${process.env.PATH}`, FLANCTL_INVENTORY: undefined, FLANCTL_LAB_DIR: undefined };
  const r = await flanctl('autocomplete', 'bash');
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout).toContain('autocomplete script bash');
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const fnDir = () => join(work, 'cache/flanctl/autocomplete/functions');

describe('shell completion', () => {
  it('node-names prints the inventory nodes, or the lab nodes with --lab, and nothing for a missing file', async () => {
    expect((await flanctl('node-names', '-i', 'inv.yaml')).stdout.split('\n').filter(Boolean)).toEqual(['alpha', 'beta', 'gamma']);
    expect((await flanctl('node-names', '--lab', '-d', 'lab')).stdout.split('\n').filter(Boolean)).toEqual(['node1', 'node2']);
    const none = await flanctl('node-names', '-i', 'missing.yaml');
    expect([none.code, none.stdout]).toEqual([0, '']);
  });

  it('bash completes commands, flags, --limit node names (also comma lists and --limit=) and `lab exec <node>`', async () => {
    const cases: Array<[string[], string]> = [
      [['flanctl', 'ver'], 'verify'],
      [['flanctl', 'lab', 'e'], 'exec'],
      [['flanctl', 'verify', '--pro'], '--probe'],
      [['flanctl', 'verify', '-i', 'inv.yaml', '--limit', ''], 'alpha beta gamma'],
      [['flanctl', 'verify', '-i', 'inv.yaml', '--limit', 'alpha,g'], 'alpha,gamma'],
      [['flanctl', 'bootstrap', '-i', 'inv.yaml', '-l', 'g'], 'gamma'],
      [['flanctl', 'verify', '--inventory', '=', 'inv.yaml', '--limit', '=', 'b'], 'beta'],
      [['flanctl', 'lab', 'exec', '-d', 'lab', ''], 'node1 node2'],
      [['flanctl', 'lab', 'exec', '-d', 'lab', 'node1', '--', ''], ''],
      [['flanctl', 'lab', 'reboot', '-d', 'lab', 'n'], 'node1 node2'],
      [['flanctl', 'node', 'remove', '-i', 'inv.yaml', 'b'], 'beta'],
    ];
    const script = [
      `source ${join(fnDir(), 'bash/flanctl.bash')}`,
      'c() { COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMPREPLY=(); $(complete -p flanctl | sed -E "s/.*-F ([^ ]+).*/\\1/"); echo "${COMPREPLY[*]}"; }',
      ...cases.map(([words]) => `c ${words.map((w) => `'${w}'`).join(' ')}`),
    ].join('\n');
    const r = await run('bash', ['--norc', '-c', script]);
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n').slice(0, cases.length)).toEqual(cases.map(([, want]) => want));
  });

  it.runIf(hasShell('zsh'))('zsh, interactive (zpty): <TAB> completes --limit values, `lab exec <node>`, commands and flags', async () => {
    const dir = join(fnDir(), 'zsh');
    expect(readFileSync(join(dir, '_flanctl'), 'utf8')).toMatch(/^_flanctl_oclif \(\) \{/m);
    const lines = [
      'flanctl verify -i inv.yaml --limit ga',
      'flanctl verify -i inv.yaml --limit alpha,b',
      'flanctl verify -i inv.yaml --limit=be',
      'flanctl lab exec -d lab node2',
      'flanctl node remove -i inv.yaml al',
      'flanctl verif',
      'flanctl lab ex',
      'flanctl verify --pro',
    ];
    const out = join(work, 'zsh-buffers');
    const transcript = join(work, 'zsh-pty-transcript');
    // An interactive zsh in a pseudo-terminal: type each line and <TAB>, then ^T (a widget that
    // appends the edited line to a file) and ^U. zle handles keys in order, so ^T sees the completed line.
    // The pty's output is drained into a transcript while waiting: an undrained pty blocks the inner
    // shell once its buffer fills, and the transcript is what a failure shows. TERM is set for the inner
    // shell, since zle depends on it (CI may run with any TERM or none).
    const script = [
      'zmodload zsh/zpty',
      'drain() { local chunk; while zpty -rt z chunk; do print -rn -- "$chunk" >> ' + transcript + '; done }',
      'fail() { drain; print -u2 -r -- "$1"; print -u2 -r -- "--- pty transcript (last 3000 bytes):"; tail -c 3000 ' + transcript + ' >&2; zpty -d z; exit 1 }',
      'zpty z env TERM=xterm zsh -f -i',
      `zpty -w z "PS1='> '; fpath=(${dir} \\$fpath); autoload -Uz compinit; compinit -u -d ${join(work, 'zcompdump')}; pb() { print -r -- \\"[\\$BUFFER]\\" >> ${out} }; zle -N pb; bindkey '^T' pb"`,
      "zpty -w z 'print RE\"\"ADY'", // the echo of the typed line does not match, only the output does
      // Type only once zle owns the terminal: a line typed while the tty is still in cooked mode is
      // echoed by the kernel and ^U erases it before zle reads it. zle turns on bracketed paste
      // (ESC[?2004h) right after it switches the terminal to raw mode.
      'zpty -r -m z _ "*READY*2004h*" || fail "the interactive zsh never printed READY and started zle"',
      'wait_lines() { for i in {1..600}; do drain; [[ -f ' + out + ' && $(wc -l < ' + out + ') -ge $1 ]] && return; sleep 0.1; done; fail "no buffer for line $1 after 60 s" }',
      ...lines.map((l, i) => `zpty -w -n z ${JSON.stringify(l)}$'\\t\\C-t\\C-u'; wait_lines ${i + 1}`),
      'zpty -d z',
    ].join('\n');
    const r = await run('zsh', ['-f', '-c', script], undefined, 300_000); // 8 <TAB>s, each starting the CLI
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(out, 'utf8').trim().split('\n')).toEqual([
      '[flanctl verify -i inv.yaml --limit gamma]',
      '[flanctl verify -i inv.yaml --limit alpha,beta]',
      '[flanctl verify -i inv.yaml --limit=beta]',
      '[flanctl lab exec -d lab node2 ]',
      '[flanctl node remove -i inv.yaml alpha ]',
      '[flanctl verify ]',
      '[flanctl lab exec ]',
      '[flanctl verify --probe ]',
    ]);
  }, 400_000); // each <TAB> starts `flanctl node-names`: seconds each when three labs share the 2 cores
});

describe('did you mean', () => {
  it('names the nearest command, exits 2 and does not run it', async () => {
    // verify would read the inventory and fail on it; the typo must not get that far.
    const r = await flanctl('verfy', '-i', 'missing.yaml');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('command verfy not found');
    expect(r.stderr).toContain('Did you mean: flanctl verify');
    expect(r.stderr).not.toContain('missing.yaml');
  });

  it('works for topic commands and says nothing when nothing is close', async () => {
    const lab = await flanctl('lab', 'exc', 'node1');
    expect([lab.code, lab.stderr.includes('Did you mean: flanctl lab exec'), lab.stderr.includes('command lab exc not found')]).toEqual([2, true, true]);
    const far = await flanctl('xyzzy');
    expect(far.code).toBe(2);
    expect(far.stderr).toContain('command xyzzy not found');
    expect(far.stderr).not.toContain('Did you mean');
  });
});
