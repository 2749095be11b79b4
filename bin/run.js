#!/usr/bin/env -S node --max-semi-space-size=1
// --max-semi-space-size=1 (MB; V8's default grows the young generation to 3 × 16 MB): flanctl is a
// short-lived process whose live data is small, so a small young generation keeps its RSS near what it
// holds. Bootstrap of 100 lab nodes peaked at 170 MB RSS with the default, 119 MB with this, at the
// same CPU (issue 15). `npm run bench` runs the CLI with the flags of this line.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

// On every start oclif checks node against its own engines with semver, whose load alone is ~20 ms of
// a 0.2 s start-up; flanctl's own floor (package.json engines) is checked here without it.
if (Number(process.versions.node.split('.')[0]) < 20) process.emitWarning(`flanctl needs Node.js >= 20 (this is ${process.versions.node})`);
process.env.OCLIF_DISABLE_ENGINE_WARNING ??= '1';
const { Plugin, execute } = await import('@oclif/core');

/**
 * oclif lists and finds commands from oclif.manifest.json (written by `npm run build`) instead of
 * importing every command module. A manifest older than a built command (e.g. after a bare `tsc`)
 * would show stale help or miss a new command: then ignore it and let oclif scan dist/commands.
 */
function manifestIsStale() {
  let manifestTime;
  try {
    manifestTime = statSync(join(root, 'oclif.manifest.json')).mtimeMs;
  } catch {
    return false; // no manifest: oclif scans dist/commands by itself
  }
  const newer = (dir) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return false;
    }
    return entries.some((e) => {
      const p = join(dir, e.name);
      if (e.isDirectory()) return newer(p);
      return e.name.endsWith('.js') && statSync(p).mtimeMs > manifestTime;
    });
  };
  return newer(join(root, 'dist', 'commands'));
}

if (manifestIsStale()) {
  const plugin = new Plugin({ root, isRoot: true, type: 'core', ignoreManifest: true });
  await plugin.load();
  const plugins = new Map([[plugin.name, plugin]]);
  // Handing oclif its plugins skips package.json's oclif.plugins (autocomplete): load those too.
  for (const name of plugin.pjson.oclif?.plugins ?? []) {
    const p = new Plugin({ root: join(root, 'node_modules', name), type: 'core' });
    await p.load();
    plugins.set(p.name, p);
  }
  await execute({ loadOptions: { root, plugins } });
} else {
  await execute({ dir: import.meta.url });
}
