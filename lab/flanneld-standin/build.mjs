#!/usr/bin/env node
// Builds the flanneld stand-in (TEST EQUIPMENT, not flannel) into release-style tarballs:
//   lab/dist/flannel-v0.20.2-standin-linux-amd64.tar.gz  (etcd v3, lease JSON of flannel >= 0.14)
//   lab/dist/flannel-v0.11.0-standin-linux-amd64.tar.gz  (etcd v2, lease JSON of v0.11)
// each holding flanneld (one self-contained JS file, #!/usr/bin/env node), mk-docker-opts.sh and
// README.md. Deterministic: fixed mtimes, portable tar headers, gzip without timestamps.
import { build } from 'esbuild';
import { chmodSync, mkdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tar from 'tar';

const here = dirname(fileURLToPath(import.meta.url));
const distDir = join(here, '..', 'dist');
const versions = ['v0.20.2', 'v0.11.0'];
const MTIME = new Date('2022-11-01T00:00:00Z');

async function bundle(version) {
  const result = await build({
    entryPoints: [join(here, 'src', 'main.ts')],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    write: false,
    minify: false,
    legalComments: 'none',
    logLevel: 'warning',
    define: { __STANDIN_VERSION__: JSON.stringify(version) },
    banner: {
      js: [
        '#!/usr/bin/env node',
        `// flanneld stand-in ${version}: TEST EQUIPMENT for flanctl labs, not the real flannel.`,
        // Runs as CommonJS (no package.json around it) and also where a "type":"module" package.json
        // makes Node load it as ESM (e.g. inside this repository): then require comes from
        // process.getBuiltinModule (Node >= 20.16). Only built-in modules are required.
        "var require = typeof require === 'function' ? require : process.getBuiltinModule;",
      ].join('\n'),
    },
  });
  return result.outputFiles[0].contents;
}

async function main() {
  const started = Date.now();
  mkdirSync(distDir, { recursive: true });
  const readme = readFileSync(join(here, 'README.md'));
  const script = readFileSync(join(here, 'mk-docker-opts.sh'));
  const outputs = [];
  await Promise.all(
    versions.map(async (version) => {
      const js = await bundle(version);
      const name = `flannel-${version}-standin-linux-amd64`;
      const stage = join(distDir, name);
      rmSync(stage, { recursive: true, force: true });
      mkdirSync(stage, { recursive: true });
      const files = { flanneld: [js, 0o755], 'mk-docker-opts.sh': [script, 0o755], 'README.md': [readme, 0o644] };
      for (const [file, [content, mode]] of Object.entries(files)) {
        writeFileSync(join(stage, file), content);
        chmodSync(join(stage, file), mode);
      }
      const tarball = join(distDir, `${name}.tar.gz`);
      await tar.c(
        { gzip: { level: 9 }, file: tarball, cwd: stage, portable: true, mtime: MTIME, noDirRecurse: true },
        Object.keys(files),
      );
      outputs.push(tarball);
    }),
  );
  for (const f of outputs.sort()) console.log(`wrote ${f}`);
  console.log(`flanneld stand-in built in ${Date.now() - started} ms`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
