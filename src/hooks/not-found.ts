/**
 * oclif command_not_found hook: `flanctl bootstrp` names the nearest commands and stops with exit 2
 * (usage). It never runs a guess: a typo in a command that changes hosts must not change hosts.
 */
import type { Hook } from '@oclif/core';
import { CLIError } from '@oclif/core/errors';
import { ExitCode } from '../errors.js';
import { suggestCommands, typedCommand } from '../cli/suggest.js';

const hook: Hook.CommandNotFound = async function (opts) {
  const sep = opts.config.topicSeparator ?? ' ';
  const show = (id: string) => id.replaceAll(':', sep);
  const visible = opts.config.commands.filter((c) => !c.hidden).flatMap((c) => [c.id, ...(c.aliases ?? [])]);
  const topics = opts.config.topics.filter((t) => !t.hidden).map((t) => t.name);
  const typed = typedCommand(opts.id, topics);
  const guesses = suggestCommands(typed, [...new Set([...visible, ...topics])]);
  const lines = [`command ${show(typed)} not found`];
  if (guesses.length === 1) lines.push(`Did you mean: ${opts.config.bin} ${show(guesses[0])}`);
  else if (guesses.length) lines.push(`Did you mean one of: ${guesses.map((g) => `${opts.config.bin} ${show(g)}`).join(', ')}`);
  lines.push(`Run ${opts.config.bin} help for a list of commands.`);
  throw new CLIError(lines.join('\n'), { exit: ExitCode.usage });
};

export default hook;
