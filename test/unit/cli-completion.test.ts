import { describe, expect, it } from 'vitest';
import { MARK, bashNodeCompletion, nodeArgCommands, nodeFlagSpellings, zshNodeCompletion } from '../../src/cli/completion.js';

const OCLIF_ZSH = '#compdef flanctl\n\n_flanctl_lab() {\n  :\n}\n\n_flanctl() {\n  _arguments -C\n}\n\n_flanctl\n';

describe('node-name completion scripts', () => {
  it('finds --limit and its short form among the commands flags, whoever adds it', () => {
    expect(nodeFlagSpellings([{ flags: { probe: { name: 'probe' } } }])).toEqual(['--limit']);
    expect(nodeFlagSpellings([{ flags: { limit: { name: 'limit', char: 'l', type: 'option' } } }])).toEqual(['--limit', '-l']);
  });

  it('finds the commands whose first argument is a node, lab commands reading the lab', () => {
    expect(nodeArgCommands([
      { id: 'lab:exec', args: { node: {} } },
      { id: 'node:remove', args: { name: {} } },
      { id: 'switch-backend', args: { backend: {} } },
      { id: 'verify', args: {} },
    ])).toEqual([{ words: ['lab', 'exec'], lab: true }, { words: ['node', 'remove'], lab: false }]);
  });

  it("zsh: renames oclif's _flanctl, puts the node-aware one in front, still calls it at the end; once only", () => {
    const out = zshNodeCompletion(OCLIF_ZSH, 'flanctl', ['--limit']);
    expect(out).toMatch(/^_flanctl_oclif \(\) \{/m);
    expect(out).toMatch(/^_flanctl\(\) \{/m);
    expect(out).toContain('_flanctl_lab() {');
    expect(out.trimEnd().split('\n').pop()).toBe('_flanctl');
    expect(out).toContain(MARK);
    expect(zshNodeCompletion(out, 'flanctl', ['--limit'])).toBe(out);
  });

  it("zsh: leaves a file it does not recognise alone", () => {
    expect(zshNodeCompletion('#compdef flanctl\n_other() {}\n', 'flanctl', ['--limit'])).toBe('#compdef flanctl\n_other() {}\n');
  });

  it('bash: takes over complete -F and falls back to oclif', () => {
    const out = bashNodeCompletion('flanctl', ['--limit', '-l']);
    expect(out).toContain('--limit|-l)');
    expect(out).toContain('complete -F _flanctl_nodes_autocomplete flanctl');
    expect(out).toContain('  _flanctl_autocomplete\n');
  });
});
