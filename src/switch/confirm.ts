/**
 * The interactive "Proceed? [y/N]" for commands that change every node (switch-backend, reset).
 * Without a terminal there is nobody to ask: the caller must pass --yes.
 */
import { createInterface } from 'node:readline/promises';
import { UsageError } from '../errors.js';

export async function askToProceed(lines: string[], what: string, print: (line: string) => void): Promise<boolean> {
  if (!process.stdin.isTTY) {
    throw new UsageError(`${what} needs confirmation and stdin is not a terminal`, { hint: 'Pass --yes to proceed, or --dry-run to only see the plan.' });
  }
  for (const l of lines) print(l);
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`\nProceed with ${what}? [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}
