/**
 * A file on a node with given content and mode. The check compares the remote sha256 (no upload when
 * it matches) and mode; the apply writes atomically (Connector.write: temp file + rename). Text files
 * get a short diff for `plan`; secrets and binaries never do.
 */
import { run } from '../connector/connector.js';
import { modeString, statArgv } from '../connector/remote-scripts.js';
import { sha256Hex } from '../connector/sha256.js';
import { FlanctlError } from '../errors.js';
import type { Change, ReadContext, Step, StepContext } from '../engine/step.js';
import { onNode, shortDiff } from './util.js';
import { shortageText, spaceShortages } from './space.js';

export interface FileSpec {
  id: string;
  title: string;
  /** Absolute remote path, or a function that picks it on the node (e.g. supervisord's include dir). */
  path: string | ((ctx: StepContext) => Promise<string>);
  /** The bytes, text, text rendered for the path picked, or a binary read on demand (its digest known up front). */
  content: string | Buffer | ((path: string) => string) | LazyContent;
  mode: number;
  /** Keys: compared by sha256 only, never read back or shown. */
  secret?: boolean;
  /** Binaries: no text diff; the summary shows size and sha256. */
  binary?: boolean;
  /** Problems with the rendered content; any problem stops the write (nothing is changed). */
  validate?: (content: string) => string[];
  /** A path picked on the node: the reads that pick it and stat it (Step.reads); a fixed path needs none. */
  reads?: (ctx: ReadContext) => string[][];
}

/** Bytes known by digest and size, read only when they must be written (binaries from the tarball). */
export interface LazyContent {
  sha256: string;
  size: number;
  load(): Promise<Buffer>;
}

const isLazy = (c: FileSpec['content']): c is LazyContent => typeof c === 'object' && !Buffer.isBuffer(c);

/** One exec for both facts (remote-scripts.ts): the mode (octal) and `sha256sum` output. */
export { statArgv };

/** The remote file's permission bits and sha256, or undefined when it does not exist. */
export async function remoteFileState(ctx: StepContext, path: string, stepId: string): Promise<{ mode: number; sha256?: string } | undefined> {
  const { conn } = onNode(ctx, stepId);
  const r = await conn.exec(statArgv(path));
  const [modeLine, shaLine] = r.stdout.split('\n');
  const mode = parseInt(modeLine?.trim() ?? '', 8);
  if (Number.isNaN(mode)) return undefined;
  const sha = shaLine?.trim().split(/\s+/)[0]?.replace(/^\\/, '');
  return { mode, sha256: sha && /^[0-9a-f]{64}$/.test(sha) ? sha : undefined };
}

const size = (n: number) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MB` : n >= 1024 ? `${(n / 1024).toFixed(1)} kB` : `${n} B`);
const isText = (b: Buffer) => b.length < 256 * 1024 && !b.includes(0);

export function fileStep(spec: FileSpec): Step {
  return {
    id: spec.id,
    title: spec.title,
    reads: (ctx) => (typeof spec.path === 'string' ? [statArgv(spec.path)] : spec.reads?.(ctx) ?? []),
    async check(ctx): Promise<Change | undefined> {
      const { conn } = onNode(ctx, spec.id);
      const path = typeof spec.path === 'string' ? spec.path : await spec.path(ctx);
      const lazy = isLazy(spec.content) ? spec.content : undefined;
      const raw = lazy ? undefined : typeof spec.content === 'function' ? spec.content(path) : (spec.content as string | Buffer);
      const content = raw === undefined ? undefined : Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
      const wantSha = lazy ? lazy.sha256 : sha256Hex(content!);
      const bytes = lazy ? lazy.size : content!.length;
      const state = await remoteFileState(ctx, path, spec.id);
      const mode = state?.mode;
      const haveSha = state?.sha256;
      if (mode !== undefined && haveSha === wantSha && mode === spec.mode) return undefined;

      const write = async () => {
        if (spec.validate && content) {
          const problems = spec.validate(content.toString('utf8'));
          if (problems.length) throw new FlanctlError(`${conn.name}: refusing to write ${path}:\n  ${problems.join('\n  ')}`);
        }
        const data = content ?? (await lazy!.load());
        ctx.progress?.(`writing ${path} (${size(bytes)})`);
        try {
          await conn.write(path, data, spec.mode);
        } catch (e) {
          // A full disk shows up as a bare SFTP "Failure" or a shell's "No space left": say where and how much.
          const short = await spaceShortages(conn, [{ path, bytes }], { force: true }).catch(() => []);
          if (short.length) throw new FlanctlError(`${conn.name}: could not write ${path}: ${shortageText(short[0])}`, { cause: e, hint: 'Free space on the node (or point flannel.installDir / configDir elsewhere) and rerun.' });
          throw e;
        }
      };

      if (mode === undefined) {
        return {
          action: 'create',
          summary: `${path} (${spec.secret ? 'secret, ' : ''}${size(bytes)}, ${modeString(spec.mode)})`,
          affects: [path],
          apply: write,
        };
      }
      if (haveSha === wantSha) {
        return {
          action: 'update',
          summary: `${path}: mode ${modeString(mode)} → ${modeString(spec.mode)}`,
          affects: [path],
          apply: async () => {
            await run(conn, ['chmod', modeString(spec.mode), '--', path]);
          },
        };
      }
      let diff: Change['diff'];
      if (spec.binary || !content) {
        diff = { before: `sha256 ${haveSha?.slice(0, 12) ?? '?'}…`, after: `sha256 ${wantSha.slice(0, 12)}…` };
      } else if (!spec.secret) {
        const before = await conn.read(path);
        if (before && isText(before) && isText(content)) diff = shortDiff(before.toString('utf8'), content.toString('utf8'));
      }
      const modeNote = mode !== spec.mode ? `, mode ${modeString(mode)} → ${modeString(spec.mode)}` : '';
      return {
        action: 'update',
        summary: `${path} (${spec.secret ? 'secret, content changed' : `${size(bytes)}`}${modeNote})`,
        ...(diff ? { diff } : {}),
        affects: [path],
        apply: write,
      };
    },
  };
}

/** A directory that must exist (supervisord refuses a program whose log directory is missing). */
export function dirStep(id: string, path: string, title = `directory ${path}`): Step {
  return {
    id,
    title,
    reads: () => [['test', '-d', path]],
    async check(ctx) {
      const { conn } = onNode(ctx, id);
      if ((await conn.exec(['test', '-d', path])).code === 0) return undefined;
      return {
        action: 'create',
        summary: `${path}/`,
        affects: [path],
        apply: async () => {
          await run(conn, ['mkdir', '-p', '-m', '0755', '--', path]);
        },
      };
    },
  };
}
