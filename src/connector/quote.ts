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
