#!/usr/bin/env node
// Builds the flanneld stand-in (TEST EQUIPMENT, not flannel) into release-style tarballs, one per
// emulated release (README.md "Emulated releases"):
//   lab/dist/flannel-v0.11.0-standin-linux-amd64.tar.gz  (etcd v2, lease JSON of v0.11, built-in chains)
//   lab/dist/flannel-v0.20.2-standin-linux-amd64.tar.gz  (etcd v3, FLANNEL-* chains, watch bug, exit 2)
//   lab/dist/flannel-v0.22.3-standin-linux-amd64.tar.gz  (etcd v3, watch bug fixed, appended jumps)
// each holding flanneld (one self-contained JS file, #!/usr/bin/env node), mk-docker-opts.sh and
// README.md. Deterministic: fixed mtimes, portable tar headers, gzip without timestamps.
//
// FLANCTL_STANDIN_WEIGHT=real (or --weight=real) also writes
//   lab/dist/flannel-<version>-standin-weighted-linux-amd64.tar.gz
// whose flanneld has a real flanneld's weight (~40 MB, ~12 MB gzipped) so uploads in the bench cost what
// they would: a /bin/sh launcher that hands the program to node and never reads the padding after it.
import { build } from 'esbuild';
import { chmodSync, mkdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tar from 'tar';
import { shVersionAnswer, weightedHead } from './weighted.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const distDir = join(here, '..', 'dist');
const versions = ['v0.11.0', 'v0.20.2', 'v0.22.3'];
const weightArg = process.argv.find((a) => a.startsWith('--weight='))?.slice('--weight='.length);
const weight = weightArg ?? process.env.FLANCTL_STANDIN_WEIGHT ?? 'light';
if (!['light', 'real'].includes(weight)) {
  console.error(`FLANCTL_STANDIN_WEIGHT / --weight must be light or real, not "${weight}"`);
  process.exit(2);
}
/** A real flanneld v0.20.2 amd64 binary: ~40 MB, ~12 MB gzipped. */
const REAL_SIZE = 40 * 1024 * 1024;
/** version.ts's TEST_EQUIPMENT_NOTICE (read from the source, so the sh answer and node's never differ). */
const NOTICE = /TEST_EQUIPMENT_NOTICE =\s*'([^']+)'/.exec(readFileSync(join(here, 'src', 'version.ts'), 'utf8'))[1];
const REAL_INCOMPRESSIBLE = 12 * 1024 * 1024;
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
        // A sh/JS polyglot: sh answers a lone -version itself (a real flanneld is a Go binary that
        // prints it in milliseconds; starting node for it costs ~80 ms CPU, which verify paid on every
        // node) and execs node on this same file for everything else (exec keeps the PID). For node the
        // second line is a string statement and a comment.
        '#!/bin/sh',
        `":" //; ${shVersionAnswer(version, NOTICE)}; exec node "$0" "$@"`,
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

/** Deterministic pseudo-random bytes (xorshift32): incompressible, identical on every build. */
function noise(n, seed) {
  const out = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.writeUInt32LE(x >>> 0, i);
  }
  return out;
}

/** The weighted flanneld: weighted.mjs's launcher and program, then padding to a real flanneld's size. */
function weighted(version, js) {
  const head = weightedHead(version, NOTICE, js);
  const padTotal = Math.max(0, REAL_SIZE - head.length);
  const rnd = noise(Math.min(REAL_INCOMPRESSIBLE, padTotal), version.length * 7919 + 1);
  return Buffer.concat([head, rnd, Buffer.alloc(padTotal - rnd.length)]);
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
      if (weight === 'real') {
        const wname = `flannel-${version}-standin-weighted-linux-amd64`;
        const wstage = join(distDir, wname);
        rmSync(wstage, { recursive: true, force: true });
        mkdirSync(wstage, { recursive: true });
        const wfiles = { ...files, flanneld: [weighted(version, js), 0o755] };
        for (const [file, [content, mode]] of Object.entries(wfiles)) {
          writeFileSync(join(wstage, file), content);
          chmodSync(join(wstage, file), mode);
        }
        const wtarball = join(distDir, `${wname}.tar.gz`);
        await tar.c(
          { gzip: { level: 6 }, file: wtarball, cwd: wstage, portable: true, mtime: MTIME, noDirRecurse: true },
          Object.keys(wfiles),
        );
        outputs.push(wtarball);
      }
    }),
  );
  for (const f of outputs.sort()) console.log(`wrote ${f}`);
  console.log(`flanneld stand-in built in ${Date.now() - started} ms`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
