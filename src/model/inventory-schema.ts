/**
 * The inventory's schema and the types derived from it (zod). No I/O: loading, YAML line numbers and
 * the semantic network rules live in inventory.ts and network.ts, which both import from here.
 */
import { isAbsolute, resolve } from 'node:path';
import { homedir } from 'node:os';
import { z } from 'zod';
/** Values that reach remote commands: no shell metacharacters, spaces or `..`. */
const PLAIN = /^[A-Za-z0-9._/:@+=,-]+$/;
const plain = (what: string) =>
  z.string().min(1).refine((v) => PLAIN.test(v) && !v.split('/').includes('..'), {
    message: `${what} must be plain (letters, digits, . _ / : @ + = , -; no spaces, shell metacharacters or ..)`,
  });
/** World-writable (sticky) directories: any local user could plant a symlink or a file flanctl's root scripts then trust. */
export const WORLD_WRITABLE_DIRS = ['/tmp', '/var/tmp', '/dev/shm', '/run/lock', '/var/lock', '/var/crash'];
const inWorldWritable = (v: string) => WORLD_WRITABLE_DIRS.some((d) => v === d || v.startsWith(`${d}/`));
const remotePath = plain('a remote path')
  .refine((v) => v.startsWith('/'), { message: 'must be an absolute path' })
  .refine((v) => !inWorldWritable(v.replace(/\/+$/, '')), { message: `must not be in a world-writable directory (${WORLD_WRITABLE_DIRS.join(', ')}): another local user could plant what root then reads` });
const localPath = z.string().min(1);
const ipv4 = z.string().regex(/^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/, 'expected an IPv4 address');
const cidr4 = z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, 'expected an IPv4 CIDR such as 10.244.0.0/16');
const hostname = z.string().regex(/^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/, 'expected an IPv4 address or hostname');
const nodeName = z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'expected a lower-case DNS label (a-z, 0-9, -)');
const iface = z.string().regex(/^[A-Za-z0-9_.:][A-Za-z0-9_.:-]{0,14}$/, 'expected an interface name (at most 15 of A-Z a-z 0-9 _ . : -, not starting with -)');
/** WHATWG URL parsing, as the etcd clients will do it (e.g. a host "A192.168.10.1" is refused). */
const isUrl = (v: string) => {
  try {
    new URL(v);
    return true;
  } catch {
    return false;
  }
};
const port = z.number().int().min(1).max(65535);
const duration = z.string().regex(/^\d+h$/, 'expected hours such as 8760h');

const vxlan = z.object({
  type: z.literal('vxlan'),
  vni: z.number().int().min(1).max(16777215).default(1),
  port: z.number().int().min(0).max(65535).default(8472),
  directRouting: z.boolean().default(false),
  gbp: z.boolean().default(false),
  mtu: z.number().int().min(68).max(65535).optional(),
}).strict();
const hostGw = z.object({ type: z.literal('host-gw') }).strict();
const ipip = z.object({ type: z.literal('ipip'), directRouting: z.boolean().default(false) }).strict();
const wireguard = z.object({
  type: z.literal('wireguard'),
  listenPort: port.default(51820),
  psk: localPath.optional(),
  persistentKeepaliveInterval: z.number().int().min(0).max(65535).default(0),
  mtu: z.number().int().min(68).max(65535).optional(),
}).strict();
const udp = z.object({ type: z.literal('udp'), port: port.default(8285) }).strict();
export const backendSchema = z.discriminatedUnion('type', [vxlan, hostGw, ipip, wireguard, udp]);
export type Backend = z.infer<typeof backendSchema>;
export type BackendType = Backend['type'];
export const BACKEND_TYPES: BackendType[] = ['vxlan', 'host-gw', 'ipip', 'wireguard', 'udp'];

const names = z.object({ C: z.string(), ST: z.string(), L: z.string(), O: z.string(), OU: z.string() }).partial().strict();

const nodeSchema = z.object({
  name: nodeName,
  host: hostname,
  iface: iface.default('eth0'),
  publicIp: ipv4.optional(),
  /** Pinned SSH host key fingerprint, "SHA256:…" as ssh-keygen -l prints it. */
  hostKeyFingerprint: z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}=?$/, 'expected SHA256:<base64> as ssh-keygen -lf prints').optional(),
  sshPort: port.optional(),
}).strict();

export const inventorySchema = z.object({
  network: z.object({
    cidr: cidr4,
    subnetLen: z.number().int().min(1).max(32).optional(),
    subnetMin: ipv4.optional(),
    subnetMax: ipv4.optional(),
    serviceCidr: cidr4.optional(),
    backend: backendSchema.default({ type: 'vxlan', vni: 1, port: 8472, directRouting: false, gbp: false }),
  }).strict(),
  etcd: z.object({
    endpoints: z.array(z.string().regex(/^https?:\/\/[A-Za-z0-9.-]+(:\d+)?\/?$/, 'expected http(s)://host:port').refine(isUrl, 'expected http(s)://host:port with a valid host (a name, or an IPv4 address)')).min(1),
    prefix: z.string().regex(/^(\/[A-Za-z0-9._-]+)+$/, 'expected an absolute key prefix such as /coreos.com/network')
      .refine((v) => !v.split('/').some((seg) => /^\.+$/.test(seg)), { message: 'must not contain . or .. segments (etcd v2 requests would leave /v2/keys)' })
      .default('/coreos.com/network'),
    api: z.enum(['v3', 'v2']).default('v3'),
    /** Allow http:// endpoints (no TLS): etcd traffic in clear; flanctl warns on every run and never sends a secret. */
    insecure: z.boolean().default(false),
    /** TLS files flanctl itself uses to reach etcd; default: the pki dir's ca.pem / flanneld.pem / flanneld-key.pem. */
    caFile: localPath.optional(),
    certFile: localPath.optional(),
    keyFile: localPath.optional(),
  }).strict(),
  pki: z.object({
    dir: localPath.default('pki'),
    ca: z.object({ cn: z.string().min(1).default('flannel-ca'), expiry: duration.default('87600h'), names: names.optional() }).strict().default({ cn: 'flannel-ca', expiry: '87600h' }),
    flanneld: z.object({
      cn: z.string().min(1).default('flanneld'),
      names: names.optional(),
      /** size defaults per algo: rsa 2048, ecdsa 256 (P-256). */
      key: z.object({ algo: z.enum(['rsa', 'ecdsa']).default('rsa'), size: z.number().int().optional() }).strict()
        .transform((k) => ({ algo: k.algo, size: k.size ?? (k.algo === 'ecdsa' ? 256 : 2048) }))
        .default({ algo: 'rsa', size: 2048 }),
      expiry: duration.default('8760h'),
    }).strict().default({ cn: 'flanneld', key: { algo: 'rsa', size: 2048 }, expiry: '8760h' }),
  }).strict().default({ dir: 'pki', ca: { cn: 'flannel-ca', expiry: '87600h' }, flanneld: { cn: 'flanneld', key: { algo: 'rsa', size: 2048 }, expiry: '8760h' } }),
  flannel: z.object({
    tarball: localPath,
    /** Expected sha256 (hex) of the tarball, checked before anything is read out of it or uploaded. */
    tarballSha256: z.string().regex(/^[0-9a-fA-F]{64}$/, 'expected 64 hex digits (sha256sum of the tarball)').transform((v) => v.toLowerCase()).optional(),
    version: z.string().optional(),
    installDir: remotePath.default('/opt/flannel/bin'),
    configDir: remotePath.default('/etc/flannel'),
    subnetFile: remotePath.default('/run/flannel/subnet.env'),
    service: z.enum(['systemd', 'supervisord']).default('systemd'),
    ipMasq: z.boolean().optional(),
    healthzPort: z.number().int().min(0).max(65535).default(2401),
    subnetLeaseRenewMargin: z.number().int().default(60),
    /** systemd: ExecStartPost=mk-docker-opts.sh -k DOCKER_NETWORK_OPTIONS -d <dockerOptsFile>. */
    dockerOpts: z.boolean().default(true),
    dockerOptsFile: remotePath.default('/run/flannel/docker'),
    logDir: remotePath.default('/var/log/flanneld'),
  }).strict(),
  iptables: z.object({
    masquerade: z.enum(['tightened', 'flannel', 'none']).default('tightened'),
    bridge: iface.default('docker0'),
    forwardAccept: z.boolean().default(true),
  }).strict().default({ masquerade: 'tightened', bridge: 'docker0', forwardAccept: true }),
  /** Docker wiring (issue 17): systemd drop-in for docker.service, or daemon.json bip/mtu under supervisord. */
  docker: z.object({
    integration: z.boolean().default(false),
    dockerd: remotePath.default('/usr/bin/dockerd'),
    daemonJson: remotePath.default('/etc/docker/daemon.json'),
  }).strict().default({ integration: false, dockerd: '/usr/bin/dockerd', daemonJson: '/etc/docker/daemon.json' }),
  /** CNI for kubelet (issue 17): the flannel conflist and plugin binaries. */
  cni: z.object({
    enabled: z.boolean().default(false),
    /** The flannel CNI plugin tarball (e.g. cni-plugin-flannel-linux-amd64-v1.1.2.tgz). */
    pluginsTarball: localPath.optional(),
    /** A containernetworking-plugins tarball for bridge/host-local/portmap; default: the node's /usr/lib/cni. */
    referencePluginsTarball: localPath.optional(),
    binDir: remotePath.default('/opt/cni/bin'),
    confDir: remotePath.default('/etc/cni/net.d'),
  }).strict().refine((c) => !c.enabled || !!c.pluginsTarball, { message: 'cni.enabled needs cni.pluginsTarball (the flannel CNI plugin tarball)', path: ['pluginsTarball'] }).default({ enabled: false, binDir: '/opt/cni/bin', confDir: '/etc/cni/net.d' }),
  ssh: z.object({
    user: z.string().regex(/^[a-z_][a-z0-9_-]*$/, 'expected a user name').default('root'),
    port: port.default(22),
    identityFile: localPath.optional(),
    agent: z.boolean().default(false),
    knownHostsFile: localPath.default('~/.ssh/known_hosts'),
    jumpHost: z.object({ host: hostname, port: port.default(22), user: z.string().optional() }).strict().optional(),
    concurrency: z.number().int().min(1).max(256).default(64),
    connectTimeoutMs: z.number().int().min(100).default(10000),
  }).strict().default({ user: 'root', port: 22, agent: false, knownHostsFile: '~/.ssh/known_hosts', concurrency: 64, connectTimeoutMs: 10000 }),
  nodes: z.array(nodeSchema).min(1, 'at least one node is needed'),
}).strict();

export type RawInventory = z.infer<typeof inventorySchema>;
export type NodeSpec = RawInventory['nodes'][number] & { publicIp: string };

/** The validated inventory with defaults applied and local paths made absolute. */
export interface Inventory extends Omit<RawInventory, 'nodes'> {
  nodes: NodeSpec[];
  /** Absolute path of the inventory file. */
  file: string;
  /** flanneld -ip-masq, derived from iptables.masquerade unless set. */
  ipMasq: boolean;
}

export function expandPath(p: string, baseDir: string): string {
  if (p === '~' || p.startsWith('~/')) return resolve(homedir(), p.slice(2));
  return isAbsolute(p) ? p : resolve(baseDir, p);
}

