/**
 * Upload of a 40 MB binary to a lab node: flanctl's SSH connector (dist/connector/ssh.js, through the
 * same fileStep bootstrap uses for flanneld: sha256 check, SFTP write of a temp file, chmod, rename)
 * against OpenSSH `scp` of the same file to the same node, runs interleaved. Then the second upload,
 * which flanctl skips because the remote sha256 matches (scp copies again).
 */
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { distImport, fmtMs, fmtRate, log, printTable, ratioLine, runOk, stats, tempDir, timeIt, withLab } from './lib.mjs';

export const name = 'upload';
export const needsRoot = true;

const REMOTE = '/opt/flannel/bin/flanneld';

export async function bench(opts) {
  const { connectSsh } = await distImport('connector/ssh.js');
  const { fileStep } = await distImport('steps/file.js');
  const size = Math.round(opts.sizeMb * (1 << 20));
  const runs = opts.uploadRuns;
  const tmp = tempDir('flanctl-bench-upload-');
  const file = join(tmp.dir, 'flanneld.bin');
  const content = randomBytes(size);
  const sha = createHash('sha256').update(content).digest('hex');
  writeFileSync(file, content, { mode: 0o755 });
  try {
    return await withLab(1, async (lab) => {
      log(`lab of 1 node up in ${fmtMs(lab.upMs)}; ${(size / (1 << 20)).toFixed(0)} MB random file, ${runs} runs per method, interleaved`);
      const inv = lab.inv;
      const node = inv.nodes[0];
      const step = fileStep({ id: 'binary:flanneld', title: 'flanneld binary', path: REMOTE, content, mode: 0o755, binary: true });
      const ctx = (conn) => ({ inventory: inv, node, conn, touched: new Set() });
      const clear = () => lab.exec(node.name, ['sh', '-c', 'rm -f "$1" && mkdir -p "$(dirname "$1")"', 'rm', REMOTE]);
      const remoteSha = async () => (await lab.exec(node.name, ['sha256sum', REMOTE])).stdout.split(/\s+/)[0];
      const scp = () => runOk(['scp', '-q', ...lab.ssh, file, `root@${node.host}:${REMOTE}`]);

      /** connect + sha256 check + upload + close: what one bootstrap does for flanneld on a new node. */
      const flanctlCold = async () => {
        const conn = await connectSsh(inv, node);
        try {
          const change = await step.check(ctx(conn));
          if (!change) throw new Error('expected an upload, the file is already there');
          await change.apply();
        } finally {
          await conn.close();
        }
      };
      const warm = await connectSsh(inv, node);
      try {
        const t = { scp: [], cold: [], warm: [], scpAgain: [], skipCold: [], skipWarm: [] };
        for (let i = 0; i < runs; i++) {
          await clear();
          t.scp.push((await timeIt(scp)).ms);
          if ((await remoteSha()) !== sha) throw new Error('scp: remote sha256 differs');
          await clear();
          t.cold.push((await timeIt(flanctlCold)).ms);
          if ((await remoteSha()) !== sha) throw new Error('flanctl: remote sha256 differs');
          await clear();
          t.warm.push((await timeIt(() => warm.write(REMOTE, content, 0o755))).ms);
          if ((await remoteSha()) !== sha) throw new Error('flanctl (open connection): remote sha256 differs');
        }
        // The file is in place now: second uploads.
        for (let i = 0; i < runs; i++) {
          t.scpAgain.push((await timeIt(scp)).ms);
          t.skipCold.push(
            (
              await timeIt(async () => {
                const conn = await connectSsh(inv, node);
                try {
                  if (await step.check(ctx(conn))) throw new Error('expected no change: the remote sha256 matches');
                } finally {
                  await conn.close();
                }
              })
            ).ms,
          );
          t.skipWarm.push(
            (
              await timeIt(async () => {
                if (await step.check(ctx(warm))) throw new Error('expected no change: the remote sha256 matches');
              })
            ).ms,
          );
        }
        const s = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, stats(v)]));
        const row = (label, st, bytes, base = s.scp) => [label, fmtMs(st.median), fmtMs(st.min), fmtMs(st.max), bytes ? fmtRate(bytes, st.median) : '-', `${(base.median / st.median).toFixed(2)}×`];
        printTable(
          `Upload of ${(size / (1 << 20)).toFixed(0)} MB to ${node.name} (${node.host}), median of ${runs}`,
          ['method', 'median', 'min', 'max', 'throughput', 'speed vs scp (same round)'],
          [
            row('OpenSSH scp (new connection) — baseline', s.scp, size),
            row('flanctl fileStep: connect + sha256 check + SFTP upload', s.cold, size),
            row('flanctl Connector.write on an open connection', s.warm, size),
            row('second upload: scp copies again — baseline', s.scpAgain, size, s.scpAgain),
            row('second upload: flanctl connect + sha256 matches → skipped', s.skipCold, 0, s.scpAgain),
            row('second upload: flanctl sha256 matches → skipped (open conn.)', s.skipWarm, 0, s.scpAgain),
          ],
        );
        return {
          lines: [
            ratioLine(`flanctl upload ${(size / (1 << 20)).toFixed(0)} MB (connect+check+upload)`, s.cold.median, 'scp', s.scp.median),
            ratioLine('flanctl upload on an open connection', s.warm.median, 'scp', s.scp.median),
            ratioLine('flanctl second upload (skipped, sha256 matches, incl. connect)', s.skipCold.median, 'scp again', s.scpAgain.median),
          ],
          data: { bytes: size, runs, ...s },
        };
      } finally {
        await warm.close();
      }
    });
  } finally {
    await tmp.remove();
  }
}
