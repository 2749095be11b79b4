/** Flags shared by the `flanctl lab` commands (kept out of src/commands so oclif does not load it as a command). */
import { Flags } from '@oclif/core';
import { DEFAULT_LAB_DIR } from './lab.js';

/** --dir shared by every lab command. */
export const dirFlag = Flags.string({
  char: 'd',
  summary: 'Directory holding the lab (state, keys, CA, etcd data, inventory.yaml).',
  env: 'FLANCTL_LAB_DIR',
  default: DEFAULT_LAB_DIR,
});
