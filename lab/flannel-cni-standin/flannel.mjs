#!/usr/bin/env node
// flannel CNI plugin STAND-IN — test equipment for flanctl's lab, NOT the real plugin (which cannot be
// installed here). It follows the upstream plugin's contract (github.com/flannel-io/cni-plugin,
// flannel_linux.go), written from its behaviour, not its code:
//   netconf: name, cniVersion, subnetFile (default /run/flannel/subnet.env), dataDir (default
//   /var/lib/cni/flannel), delegate (map), ipam (optional map).
//   ADD: read subnet.env; delegate.name = name; type defaults to bridge; ipMasq defaults to
//   !FLANNEL_IPMASQ; mtu to FLANNEL_MTU; isGateway to true for bridge; cniVersion copied; ipam =
//   host-local with ranges [[{subnet: FLANNEL_SUBNET's network}]] and routes [{dst: FLANNEL_NETWORK}].
//   The delegate's netconf is saved as <dataDir>/<CNI_CONTAINERID>, then the delegate plugin (found on
//   CNI_PATH) runs with the same environment and its result is printed.
//   DEL: read the saved netconf (none: success), run the delegate's DEL, remove the file.
//   VERSION: the supported versions.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0'];

function die(code, msg, details = '') {
  process.stdout.write(JSON.stringify({ cniVersion: '0.3.1', code, msg, details }) + '\n');
  process.exit(1);
}

function readEnvFile(path) {
  let text;
  try { text = readFileSync(path, 'utf8'); } catch (e) { die(11, `failed to load flannel 'subnet.env' file: ${e.message}. Check the flannel pod log for this node.`); }
  const env = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2].trim();
  }
  for (const k of ['FLANNEL_NETWORK', 'FLANNEL_SUBNET', 'FLANNEL_MTU', 'FLANNEL_IPMASQ']) if (env[k] === undefined) die(11, `${path} is missing ${k}`);
  return env;
}

function networkOf(cidr) {
  const [ip, len] = cidr.split('/');
  const n = ip.split('.').reduce((a, o) => (a << 8) + Number(o), 0) >>> 0;
  const mask = Number(len) === 0 ? 0 : (~0 << (32 - Number(len))) >>> 0;
  const net = (n & mask) >>> 0;
  return `${[24, 16, 8, 0].map((s) => (net >>> s) & 255).join('.')}/${len}`;
}

function findPlugin(type) {
  for (const dir of (process.env.CNI_PATH ?? '').split(':').filter(Boolean)) {
    const p = join(dir, type);
    if (existsSync(p)) return p;
  }
  die(7, `failed to find plugin "${type}" in path [${process.env.CNI_PATH ?? ''}]`);
}

function delegate(type, conf) {
  try {
    return execFileSync(findPlugin(type), [], { input: conf, env: process.env, encoding: 'utf8', stdio: ['pipe', 'pipe', 'inherit'] });
  } catch (e) {
    process.stdout.write(e.stdout ?? '');
    process.exit(1);
  }
}

const cmd = process.env.CNI_COMMAND;
if (cmd === 'VERSION') {
  process.stdout.write(JSON.stringify({ cniVersion: '1.0.0', supportedVersions: VERSIONS }) + '\n');
  process.exit(0);
}
let n;
try { n = JSON.parse(readFileSync(0, 'utf8')); } catch (e) { die(6, `failed to load netconf: ${e.message}`); }
const dataDir = n.dataDir ?? '/var/lib/cni/flannel';
const id = process.env.CNI_CONTAINERID ?? die(4, 'CNI_CONTAINERID is not set');
const scratch = join(dataDir, id);

if (cmd === 'ADD') {
  const env = readEnvFile(n.subnetFile ?? '/run/flannel/subnet.env');
  const d = { ...(n.delegate ?? {}) };
  d.name = n.name;
  if (!('type' in d)) d.type = 'bridge';
  if (!('ipMasq' in d)) d.ipMasq = env.FLANNEL_IPMASQ !== 'true';
  if (!('mtu' in d)) d.mtu = Number(env.FLANNEL_MTU);
  if (d.type === 'bridge' && !('isGateway' in d)) d.isGateway = true;
  if (n.cniVersion) d.cniVersion = n.cniVersion;
  const ipam = { ...(n.ipam ?? {}) };
  if (!('type' in ipam)) ipam.type = 'host-local';
  ipam.ranges = [[{ subnet: networkOf(env.FLANNEL_SUBNET) }]];
  ipam.routes = [...(ipam.routes ?? []), ...env.FLANNEL_NETWORK.split(',').map((dst) => ({ dst }))];
  d.ipam = ipam;
  const conf = JSON.stringify(d);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  writeFileSync(scratch, conf, { mode: 0o600 });
  process.stdout.write(delegate(d.type, conf));
} else if (cmd === 'DEL') {
  if (!existsSync(scratch)) process.exit(0);
  const conf = readFileSync(scratch, 'utf8');
  let type;
  try { type = JSON.parse(conf).type; } catch { rmSync(scratch, { force: true }); process.exit(0); }
  delegate(type, conf);
  rmSync(scratch, { force: true });
} else if (cmd === 'CHECK') {
  process.exit(0);
} else {
  die(4, `unknown CNI_COMMAND ${cmd ?? '(unset)'}`);
}
