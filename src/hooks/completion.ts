/**
 * oclif postrun hook: after `flanctl autocomplete` has (re)built @oclif/plugin-autocomplete's bash
 * and zsh functions, add node-name completion to them (cli/completion.ts). Any other command: nothing,
 * and nothing imported.
 */
import type { Hook } from '@oclif/core';

const hook: Hook.Postrun = async function (opts) {
  if (opts.Command?.id !== 'autocomplete') return;
  const { addNodeCompletion } = await import('../cli/completion-files.js');
  await addNodeCompletion(opts.config);
};

export default hook;
