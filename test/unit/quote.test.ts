import { describe, expect, it } from 'vitest';
import { quoteArg, shellQuote } from '../../src/connector/quote.js';

/** A POSIX sh word splitter for what shellQuote emits: bare words and single-quoted strings. */
function shWords(line: string): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (line[i] === ' ') i++;
    if (i >= line.length) break;
    let word = '';
    while (i < line.length && line[i] !== ' ') {
      if (line[i] === "'") {
        const end = line.indexOf("'", i + 1);
        if (end < 0) throw new Error('unterminated quote');
        word += line.slice(i + 1, end);
        i = end + 1;
      } else if (line[i] === '\\') {
        word += line[i + 1];
        i += 2;
      } else {
        if (/[$`"*?;&|<>(){}\n\t#~]/.test(line[i])) throw new Error(`unquoted special char ${JSON.stringify(line[i])}`);
        word += line[i++];
      }
    }
    words.push(word);
  }
  return words;
}

describe('shellQuote', () => {
  const awkward = [
    'plain', 'with space', "it's", '"double"', '$HOME', '$(id)', '`id`', 'a;b', 'a&&b', 'a|b', '>out', '*', '?', '~',
    'line1\nline2', '\ttab', '', "''", "'\\''", '\\', '#comment', '-n', '--', 'ünïcödé', '{a,b}', '!event',
  ];

  it('round-trips every awkward argument through sh word splitting', () => {
    expect(shWords(shellQuote(awkward))).toEqual(awkward);
  });

  it('leaves plain words readable and quotes everything else', () => {
    expect(shellQuote(['ip', '-o', 'addr', 'show', 'dev', 'eth0'])).toBe('ip -o addr show dev eth0');
    expect(shellQuote(['/opt/flannel/bin/flanneld', '--etcd-endpoints=https://10.0.0.1:2379'])).toBe(
      '/opt/flannel/bin/flanneld --etcd-endpoints=https://10.0.0.1:2379',
    );
    expect(quoteArg('a b')).toBe("'a b'");
    expect(quoteArg("it's")).toBe(`'it'\\''s'`);
    expect(quoteArg('')).toBe("''");
  });

  it('refuses what no shell can carry', () => {
    expect(() => shellQuote([])).toThrow(/empty argv/);
    expect(() => quoteArg('a\0b')).toThrow(/NUL/);
  });
});
