/**
 * subnet.env (FLANNEL.md §4): written atomically (temp file + rename), directory 0755, file 0644;
 * read back at start to reuse the previous subnet (and, with -ip-masq, to drop old masq rules).
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync, chmodSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { formatIp4, formatNet4, parseNet4, type Net4 } from './ip4.js';

export interface SubnetEnv {
  network: Net4;
  subnet: Net4;
  mtu: number;
  ipMasq: boolean;
}

export function renderSubnetEnv(e: SubnetEnv): string {
  return (
    `FLANNEL_NETWORK=${formatNet4(e.network)}\n` +
    `FLANNEL_SUBNET=${formatIp4(e.subnet.ip + 1)}/${e.subnet.len}\n` +
    `FLANNEL_MTU=${e.mtu}\n` +
    `FLANNEL_IPMASQ=${e.ipMasq}\n`
  );
}

export function writeSubnetEnv(path: string, e: SubnetEnv): void {
  const dir = dirname(path);
  if (mkdirSync(dir, { recursive: true, mode: 0o755 }) !== undefined) chmodSync(dir, 0o755);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
  writeFileSync(tmp, renderSubnetEnv(e), { mode: 0o644 });
  chmodSync(tmp, 0o644);
  renameSync(tmp, path);
}

/** The variables of an env file (KEY=VALUE lines); {} when it does not exist. */
export function readEnvFile(path: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return {};
  }
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) out[m[1]] = m[2].trim().replace(/^"(.*)"$/, '$1');
  }
  return out;
}

/** The previous lease subnet (FLANNEL_SUBNET normalised to its network) and network, if any. */
export function readPreviousSubnet(path: string): { subnet?: Net4; network?: Net4 } {
  const env = readEnvFile(path);
  return {
    subnet: env.FLANNEL_SUBNET ? parseNet4(env.FLANNEL_SUBNET) : undefined,
    network: env.FLANNEL_NETWORK ? parseNet4(env.FLANNEL_NETWORK) : undefined,
  };
}
