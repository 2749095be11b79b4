/**
 * The stand-in's own knobs (TEST EQUIPMENT, no real flanneld reads them), from the environment or,
 * for a flanneld started by supervisord or systemd from flanctl's unchanged units, from
 * /etc/flanneld-standin.env (KEY=VALUE lines, `#` comments; the environment wins). `flanctl lab up
 * --watch-bug` writes that file into every lab node. FLANNELD_STANDIN_ENV_FILE names another file.
 *
 *   FLANNELD_STANDIN_WATCH_BUG=on|off   emulate v0.20.2's etcd watch bug (only builds of 0.18–0.21.2)
 *   FLANNELD_STANDIN_WATCH_GAP_MS=<ms>  with the watch bug over etcd v3: wait this long before each new
 *                                       watch (widens the window in which events are lost), default 0
 *   FLANNELD_STANDIN_POLL_MS=<ms>       lease poll period of a registry without a watch (none of the
 *                                       stand-in's own: v3 and v2 watch etcd), default 1000
 *   FLANNELD_STANDIN_ETCD_API=v2|v3     override the release's etcd API
 */
import { readFileSync } from 'node:fs';

export const STANDIN_ENV_FILE = '/etc/flanneld-standin.env';

export function parseEnvLines(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) out[m[1]] = m[2].replace(/^(['"])(.*)\1$/, '$2');
  }
  return out;
}

/** The stand-in's settings: the file's FLANNELD_STANDIN_* values overlaid by the environment's. */
export function standinSettings(env: NodeJS.ProcessEnv = process.env): Record<string, string | undefined> {
  let fromFile: Record<string, string> = {};
  try {
    fromFile = parseEnvLines(readFileSync(env.FLANNELD_STANDIN_ENV_FILE || STANDIN_ENV_FILE, 'utf8'));
  } catch {
    // no file: defaults
  }
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(fromFile)) if (k.startsWith('FLANNELD_STANDIN_')) out[k] = v;
  for (const [k, v] of Object.entries(env)) if (k.startsWith('FLANNELD_STANDIN_') && v !== undefined && v !== '') out[k] = v;
  return out;
}

/**
 * Whether the watch bug fires: only in builds of a release that has it, and only when switched on.
 * Default off: the lab opts in (`flanctl lab up --watch-bug`) until flanctl's stale-peer repair is on main.
 */
export function watchBugEnabled(releaseHasBug: boolean, setting: string | undefined): boolean {
  if (!releaseHasBug) return false;
  if (setting === undefined) return WATCH_BUG_DEFAULT;
  return ['1', 'on', 'true', 'yes'].includes(setting.toLowerCase());
}

export const WATCH_BUG_DEFAULT = false;
