/** Adds node-name completion (completion.ts) to the function files @oclif/plugin-autocomplete wrote. */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MARK, bashNodeCompletion, nodeArgCommands, nodeFlagSpellings, zshNodeCompletion } from './completion.js';

interface ConfigLike {
  bin: string;
  cacheDir: string;
  commands: Parameters<typeof nodeArgCommands>[0];
}

async function patch(file: string, edit: (text: string) => string): Promise<void> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return; // the plugin did not write this shell's file
  }
  if (text.includes(MARK)) return;
  await writeFile(file, edit(text));
}

export async function addNodeCompletion(config: ConfigLike): Promise<void> {
  const dir = join(config.cacheDir, 'autocomplete', 'functions');
  const flags = nodeFlagSpellings(config.commands);
  const cmds = nodeArgCommands(config.commands);
  await patch(join(dir, 'bash', `${config.bin}.bash`), (t) => t + bashNodeCompletion(config.bin, flags, cmds));
  await patch(join(dir, 'zsh', `_${config.bin}`), (t) => zshNodeCompletion(t, config.bin, flags, cmds));
}
