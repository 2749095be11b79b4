import { describe, expect, it } from 'vitest';
import { editDistance, suggestCommands, typedCommand } from '../../src/cli/suggest.js';

const IDS = ['bootstrap', 'certs', 'certs:check', 'certs:generate', 'init', 'lab', 'lab:down', 'lab:exec', 'lab:status', 'lab:up', 'network-config', 'plan', 'reset', 'status', 'switch-backend', 'validate', 'verify'];

describe('command suggestions', () => {
  it('counts insertions, deletions, substitutions and transpositions as one edit each', () => {
    expect(editDistance('bootstrp', 'bootstrap')).toBe(1);
    expect(editDistance('bootsrtap', 'bootstrap')).toBe(1);
    expect(editDistance('verfiy', 'verify')).toBe(1);
    expect(editDistance('plan', 'plan')).toBe(0);
    expect(editDistance('', 'abc')).toBe(3);
  });

  it('suggests the nearest command, nearest first', () => {
    expect(suggestCommands('bootstrp', IDS)).toEqual(['bootstrap']);
    expect(suggestCommands('lab:exc', IDS)[0]).toBe('lab:exec');
    expect(suggestCommands('stauts', IDS)[0]).toBe('status');
    expect(suggestCommands('switch', IDS)).toEqual(['switch-backend']);
  });

  it('suggests nothing for a word that is not close to any command', () => {
    expect(suggestCommands('xyzzy', IDS)).toEqual([]);
    expect(suggestCommands('kubectl', IDS)).toEqual([]);
  });

  it('finds the mistyped command among the arguments oclif joined to it', () => {
    expect(typedCommand('lab:exc:node1', ['lab', 'certs'])).toBe('lab:exc');
    expect(typedCommand('verfy:node1', ['lab', 'certs'])).toBe('verfy');
    expect(typedCommand('bootstrp', ['lab'])).toBe('bootstrp');
    expect(typedCommand('lab', ['lab'])).toBe('lab');
  });
});
