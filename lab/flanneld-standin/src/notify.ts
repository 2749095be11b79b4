/**
 * sd_notify for `Type=notify` units: flanneld sends READY=1 right after "Running backend." (all three
 * emulated releases). Node.js has no AF_UNIX datagram sockets, so the stand-in runs `systemd-notify
 * --ready --no-block` as its direct child: as root, systemd-notify sends with faked credentials of its
 * parent (our PID, the unit's main PID), which NotifyAccess=main accepts (systemd ≥ 234; checked on 252
 * with an SO_PASSCRED receiver: the datagram carries the stand-in's PID). --no-block skips the barrier,
 * which is not needed since the claimed sender (us) stays alive. Without NOTIFY_SOCKET (supervisord, a
 * shell) nothing is sent, like sd_notify.
 */
import { execFile } from 'node:child_process';

export type Notifier = (argv: string[], env: NodeJS.ProcessEnv) => Promise<{ code: number; stderr: string }>;

const runNotify: Notifier = (argv, env) =>
  new Promise((resolve) =>
    execFile(argv[0], argv.slice(1), { env, timeout: 10_000 }, (err, _stdout, stderr) =>
      resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 127) : 0, stderr: String(stderr) || (err?.message ?? '') }),
    ),
  );

/** Sends READY=1 when NOTIFY_SOCKET is set; resolves with an error message, or undefined when sent or not asked. */
export async function notifyReady(env: NodeJS.ProcessEnv = process.env, run: Notifier = runNotify): Promise<string | undefined> {
  if (!env.NOTIFY_SOCKET) return undefined;
  const r = await run(['systemd-notify', '--ready', '--no-block'], env);
  return r.code === 0 ? undefined : `Failed to notify systemd the message READY=1 ${r.stderr.trim() || `systemd-notify exited ${r.code}`}`;
}
