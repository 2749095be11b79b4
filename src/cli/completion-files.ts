/** Adds node-name completion (completion.ts) to the function files @oclif/plugin-autocomplete wrote. */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MARK, bashNodeCompletion, nodeFlagSpellings, zshNodeCompletion } from './completion.js';

interface ConfigLike {
  bin: string;
  cacheDir: string;
  commands: { flags?: Record<string, { name?: string; char?: string; type?: string }> }[];
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
  await patch(join(dir, 'bash', `${config.bin}.bash`), (t) => t + bashNodeCompletion(config.bin, flags));
  await patch(join(dir, 'zsh', `_${config.bin}`), (t) => zshNodeCompletion(t, config.bin, flags));
}
