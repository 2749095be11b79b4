/**
 * The ONLY place an argv array becomes a shell string (DESIGN.md §4 "Secure").
 * sshd runs a remote command through the login shell, so every element is quoted: plain words
 * stay as they are, anything else goes in single quotes with embedded ' written as '\''.
 */
const PLAIN_WORD = /^[A-Za-z0-9_\/.,:=@%+-]+$/;

export function quoteArg(arg: string): string {
  if (arg.includes('\0')) throw new Error('an argument contains a NUL byte, which no shell can pass');
  if (PLAIN_WORD.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** argv → one shell command line that runs exactly argv (no globbing, expansion or splitting). */
export function shellQuote(argv: readonly string[]): string {
  if (argv.length === 0) throw new Error('shellQuote: empty argv');
  return argv.map(quoteArg).join(' ');
}

/** The inverse of shellQuote for its own output (plain words and '…' with '\'' inside): test fakes decode batched commands. */
export function unquoteShell(line: string): string[] {
  const out: string[] = [];
  let cur: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === ' ') {
      if (cur !== undefined) out.push(cur);
      cur = undefined;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unquoteShell: unterminated quote in ${line}`);
      cur = (cur ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (c === '\\') {
      cur = (cur ?? '') + line[++i];
    } else {
      cur = (cur ?? '') + c;
    }
  }
  if (cur !== undefined) out.push(cur);
  return out;
}
