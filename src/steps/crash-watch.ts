/**
 * A crash-looping flanneld (e.g. its healthz port is taken) never becomes ready, and its service
 * manager keeps restarting it: systemd (Restart=always) shows `activating` forever, supervisord
 * BACKOFF (startretries=100). Waiting for readiness or a lease would then wait out the whole timeout.
 * CrashWatch is polled alongside those waits and reports repeated exits early: systemd's NRestarts
 * grew by 2, supervisord entered BACKOFF twice or is FATAL, or flanneld exited with a panic in its log.
 */
import type { Connector } from '../connector/connector.js';
import type { Inventory } from '../model/inventory.js';
import { supervisorStatusArgv } from './service-state.js';

/** Exits before flanctl calls it a crash loop (one exit can be a lost lease race, FLANNEL.md). */
export const CRASH_EXITS = 2;

export const hasPanic = (log: string) => /^panic: |goroutine \d+ \[running\]/m.test(log);

export function parseSystemctlShow(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

export class CrashWatch {
  private baseline?: number;
  private backoffs = 0;
  private inBackoff = false;

  constructor(
    private readonly inv: Inventory,
    private readonly conn: Connector,
    private readonly logTail: () => Promise<string>,
  ) {}

  /** A reason when flanneld is crash-looping, else undefined. Cheap: one command per call. */
  async check(): Promise<string | undefined> {
    let exited: boolean;
    if (this.inv.flannel.service === 'systemd') {
      const r = await this.conn.exec(['systemctl', 'show', 'flanneld', '-p', 'NRestarts', '-p', 'SubState', '-p', 'ActiveState']);
      const s = parseSystemctlShow(r.stdout);
      const n = Number(s.NRestarts);
      if (!Number.isFinite(n)) return undefined; // systemd too old for NRestarts: rely on the timeout
      // An explicit (re)start resets the counter: the baseline is the lowest value seen.
      if (this.baseline === undefined || n < this.baseline) this.baseline = n;
      const times = n - this.baseline;
      if (times >= CRASH_EXITS) return `flanneld exited ${times} times while starting (systemd restarted it: NRestarts=${n})`;
      exited = s.SubState === 'auto-restart' || times > 0;
    } else {
      const r = await this.conn.exec(supervisorStatusArgv(['flanneld']));
      const state = /^flanneld\s+([A-Z]+)/m.exec(r.stdout)?.[1];
      if (state === 'FATAL') return 'flanneld is FATAL under supervisord (it exited too quickly too often)';
      if (state === 'BACKOFF' && !this.inBackoff) this.backoffs++;
      this.inBackoff = state === 'BACKOFF';
      if (this.backoffs >= CRASH_EXITS) return `flanneld exited ${this.backoffs} times while starting (supervisord BACKOFF)`;
      exited = this.inBackoff;
    }
    if (exited && hasPanic(await this.logTail())) return 'flanneld exited with a panic while starting';
    return undefined;
  }
}
