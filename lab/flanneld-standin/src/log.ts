/**
 * klog-like lines on stderr: `I0512 10:11:12.123456    4321 main.go] message`.
 */
export type Level = 'I' | 'W' | 'E';

export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

export function klogLine(level: Level, source: string, msg: string, now = new Date(), pid = process.pid): string {
  const date = `${pad(now.getMonth() + 1)}${pad(now.getDate())}`;
  const time = `${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}.${pad(now.getMilliseconds() * 1000, 6)}`;
  return `${level}${date} ${time} ${String(pid).padStart(7, ' ')} ${source}] ${msg}`;
}

export function logger(source: string, write: (line: string) => void = (l) => process.stderr.write(l + '\n')): Logger {
  return {
    info: (m) => write(klogLine('I', source, m)),
    warn: (m) => write(klogLine('W', source, m)),
    error: (m) => write(klogLine('E', source, m)),
  };
}
