#!/usr/bin/env node
/**
 * Writes oclif.manifest.json from the built commands (dist/commands), the way `oclif manifest` does:
 * load the package as an oclif plugin with the manifest ignored, so every command class is imported
 * once here and converted to its cached form (flags, args, summary, …). At run time oclif then lists
 * and finds commands from this file and imports only the command being run.
 *
 * Run by `npm run build` after tsc. `--remove` deletes the manifest (the build does this first, so a
 * failed build never leaves a manifest that describes older commands).
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const file = join(root, 'oclif.manifest.json');

if (process.argv.includes('--remove')) {
  rmSync(file, { force: true });
  process.exit(0);
}

const { Plugin } = await import('@oclif/core');
// errorOnManifestCreate: a command module that fails to import fails the build instead of being
// left out of the manifest with a warning. respectNoCacheDefault: as `oclif manifest`.
const plugin = new Plugin({ root, isRoot: true, type: 'core', ignoreManifest: true, errorOnManifestCreate: true, respectNoCacheDefault: true });
await plugin.load();
const ids = Object.keys(plugin.manifest.commands);
if (ids.length === 0) throw new Error(`no commands found under ${join(root, 'dist/commands')}: run tsc first`);
writeFileSync(file, JSON.stringify(plugin.manifest, null, 2) + '\n');
console.log(`wrote ${file} (${ids.length} commands: ${ids.sort().join(', ')})`);
