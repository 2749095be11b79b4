/**
 * flanneld stand-in — TEST EQUIPMENT for flanctl labs, not flannel. Imitates flanneld's contract
 * (FLANNEL.md): flags, etcd keys and lease format, subnet choice, vxlan/host-gw data plane,
 * subnet.env, iptables, /healthz, exit behaviour.
 */
import type { Backend } from './backend.js';
import { parseNetworkConfig, vxlanOptions, type NetworkConfig } from './config.js';
import { etcdV2 } from './etcd-v2.js';
import { etcdV3 } from './etcd-v3.js';
import { startHealthz } from './healthz.js';
import { describeOptions, FlagError, parseFlags, usage, type Options } from './flags.js';
import { hostGwBackend } from './hostgw.js';
import { EtcdUnreachable, httpClient } from './http.js';
import { formatNet4, sameNet } from './ip4.js';
import { ensureRules, forwardRules, masqRules, removeRules } from './iptables.js';
import { configKeyOf } from './lease-format.js';
import { acquireLease, LeaseError, startRenewal, type OwnLease } from './lease-manager.js';
import { notifyReady } from './notify.js';
import { standinSettings, watchBugEnabled } from './standin-env.js';
import { watchLeases } from './watch.js';
import { logger, type Logger } from './log.js';
import { EtcdError, type Registry } from './registry.js';
import { readPreviousSubnet, writeSubnetEnv } from './subnet-file.js';
import { lookupExtIface, realSys, type ExtIface, type Sys } from './sys.js';
import { defaultEtcdApi, flavourOf, hasWatchBug, sigtermExitStatus, standinVersion, TEST_EQUIPMENT_NOTICE, type Flavour } from './version.js';
import { vxlanBackend } from './vxlan.js';

class Fatal extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function openRegistry(opts: Options, api: 'v2' | 'v3', log: Logger): Registry {
  const haveCert = Boolean(opts.etcdCertfile && opts.etcdKeyfile);
  if (!haveCert) log.warn('no certificate provided: connecting to etcd with http. This is insecure');
  const tls = haveCert ? { cafile: opts.etcdCafile, certfile: opts.etcdCertfile, keyfile: opts.etcdKeyfile } : {};
  let client;
  try {
    client = httpClient(opts.etcdEndpoints, tls);
  } catch (e) {
    throw new Fatal(`can't connect to etcd: ${(e as Error).message}`);
  }
  const auth = opts.etcdUsername ? { username: opts.etcdUsername, password: opts.etcdPassword } : undefined;
  return api === 'v2' ? etcdV2(client, auth) : etcdV3(client, auth);
}

/** Loops every second while `<prefix>/config` is missing or invalid, like flanneld's getConfig. */
async function waitForConfig(reg: Registry, opts: Options, flavour: Flavour, log: Logger): Promise<NetworkConfig> {
  const key = configKeyOf(opts.etcdPrefix);
  for (;;) {
    try {
      const text = await reg.get(key);
      if (text !== undefined) {
        const cfg = parseNetworkConfig(text, flavour);
        log.info(`Found network config - Backend type: ${cfg.backendType}`);
        return cfg;
      }
      log.error(
        reg.api === 'v3'
          ? 'Couldn\'t fetch network config: flannel config not found in etcd store. Did you create your config using etcdv3 API?'
          : `Couldn't fetch network config: 100: Key not found (${key})`,
      );
    } catch (e) {
      log.error(`Couldn't fetch network config: ${(e as Error).message}`);
    }
    await sleep(1000);
  }
}

const unimplemented = ['ipip', 'ipsec', 'wireguard', 'alloc', 'extension', 'tencent-vpc'];

function makeBackend(cfg: NetworkConfig, sys: Sys, log: Logger, ext: ExtIface, flavour: Flavour): Backend {
  switch (cfg.backendType) {
    case 'vxlan':
      return vxlanBackend(sys, log, ext, vxlanOptions(cfg.backend), cfg.network);
    case 'host-gw':
      return hostGwBackend(sys, log, ext);
    case 'udp':
      throw new Fatal('Error fetching backend: UDP backend is not supported on this architecture (the flanneld stand-in is built without udp)');
    default:
      if (unimplemented.includes(cfg.backendType) || (flavour === 'v0.11' && ['aws-vpc', 'gce', 'ali-vpc'].includes(cfg.backendType))) {
        throw new Fatal(`Error fetching backend: backend type ${cfg.backendType} is not implemented by the flanneld stand-in`);
      }
      throw new Fatal(`Error fetching backend: unknown backend type: ${cfg.backendType}`);
  }
}

/** Retries while etcd cannot be reached (the etcd clients retry too); lease conflicts are fatal. */
async function takeLease(reg: Registry, args: Parameters<typeof acquireLease>[1]): Promise<OwnLease> {
  for (;;) {
    try {
      return await acquireLease(reg, args);
    } catch (e) {
      if (e instanceof LeaseError) throw new Fatal(`Error registering network: ${e.message}`);
      if (!(e instanceof EtcdUnreachable || e instanceof EtcdError)) throw e;
      args.log.error(`failed to acquire lease: ${e.message}; retrying`);
      await sleep(1000);
    }
  }
}

async function run(argv: string[]): Promise<number> {
  const settings = standinSettings();
  const api0 = settings.FLANNELD_STANDIN_ETCD_API;
  const flavour = flavourOf(standinVersion);
  const parsed = parseFlags(argv, process.env, flavour);
  const opts = parsed.options;
  if (opts.version) {
    process.stderr.write(`${standinVersion}\n${TEST_EQUIPMENT_NOTICE}\n`);
    return 0;
  }
  if (opts.help) {
    process.stderr.write(`${TEST_EQUIPMENT_NOTICE}\n${usage(flavour)}`);
    return 0;
  }
  const log = logger('main.go');
  log.info(`${TEST_EQUIPMENT_NOTICE}; imitating flanneld ${standinVersion}`);
  for (const w of parsed.warnings) log.warn(w);
  log.info(`CLI flags config: ${describeOptions(opts)}`);
  if (opts.subnetLeaseRenewMargin >= 24 * 60 || opts.subnetLeaseRenewMargin <= 0) {
    throw new Fatal('Invalid subnet-lease-renew-margin option, out of acceptable range');
  }
  if (opts.kubeSubnetMgr) throw new Fatal('the flanneld stand-in implements only the etcd subnet manager (-kube-subnet-mgr given)');
  if (api0 !== undefined && api0 !== 'v2' && api0 !== 'v3') throw new Fatal(`FLANNELD_STANDIN_ETCD_API must be v2 or v3, not "${api0}"`);
  const api = (api0 as 'v2' | 'v3' | undefined) ?? defaultEtcdApi(standinVersion);
  const watchBug = watchBugEnabled(hasWatchBug(standinVersion) && api === 'v3', settings.FLANNELD_STANDIN_WATCH_BUG);
  if (hasWatchBug(standinVersion)) {
    log.info(`stand-in: ${standinVersion}'s etcd watch bug (events arriving together are dropped) is ${watchBug ? 'ON' : 'off'} (FLANNELD_STANDIN_WATCH_BUG)`);
  }
  const sys = realSys;

  let ext: ExtIface;
  try {
    const found = await lookupExtIface(sys, opts);
    ext = found.iface;
    log.info(found.message);
  } catch (e) {
    throw new Fatal(`Failed to find any valid interface to use: ${(e as Error).message}`);
  }
  if (!opts.publicIp) log.info(`Defaulting external address to interface address (${ext.ifaceAddr})`);

  const reg = openRegistry(opts, api, log);
  log.info(`Using etcd ${api} API at ${opts.etcdEndpoints.join(',')} with prefix ${opts.etcdPrefix}`);
  if (opts.healthzPort > 0) {
    startHealthz(opts.healthzIp, opts.healthzPort, (e) => {
      log.error(`Start healthz server error. ${e.message}`);
      process.exit(1);
    });
    log.info(`Start healthz server on ${opts.healthzIp}:${opts.healthzPort}`);
  }

  const cfg = await waitForConfig(reg, opts, flavour, log);
  const backend = makeBackend(cfg, sys, log, ext, flavour);
  let attrs;
  try {
    attrs = await backend.prepare();
  } catch (e) {
    throw new Fatal(`Error registering network: ${(e as Error).message}`);
  }
  const previous = readPreviousSubnet(opts.subnetFile);
  const own = await takeLease(reg, { prefix: opts.etcdPrefix, flavour, cfg, attrs, previous: previous.subnet, log });
  log.info(`Lease acquired: ${formatNet4(own.subnet)}`);
  await backend.configureOwn(own.subnet);

  if (opts.ipMasq) {
    log.info('Setting up masking rules');
    if (flavour === 'v0.11' && previous.network && previous.subnet && !(sameNet(previous.network, cfg.network) && sameNet(previous.subnet, own.subnet))) {
      await removeRules(sys, log, masqRules(flavour, previous.network, previous.subnet));
    }
    await ensureRules(sys, log, masqRules(flavour, cfg.network, own.subnet), opts.iptablesResync);
  }
  writeSubnetEnv(opts.subnetFile, { network: cfg.network, subnet: own.subnet, mtu: backend.mtu(), ipMasq: opts.ipMasq });
  log.info(`Wrote subnet file to ${opts.subnetFile}`);
  if (opts.iptablesForwardRules) {
    if (flavour !== 'v0.11') {
      log.info('Changing default FORWARD chain policy to ACCEPT');
      await sys.exec(['iptables', '--wait', '-P', 'FORWARD', 'ACCEPT']);
    }
    await ensureRules(sys, log, forwardRules(flavour, cfg.network), opts.iptablesResync);
  }

  log.info('Running backend.');
  startRenewal(reg, own, opts.subnetLeaseRenewMargin, log);
  const pollMs = Number(settings.FLANNELD_STANDIN_POLL_MS) || 1000;
  return await new Promise<number>((resolve) => {
    const stop = watchLeases(
      reg,
      { prefix: opts.etcdPrefix, ownKey: own.key, pollMs, log, watchBug, snapshot: own.listed, gapMs: Number(settings.FLANNELD_STANDIN_WATCH_GAP_MS) || 0 },
      {
        onAdd: (l) => backend.addPeer(l),
        onAddMany: backend.addPeers ? (ls) => backend.addPeers!(ls) : undefined,
        onRemove: (l) => backend.removePeer(l),
        onResync: backend.resync ? (peers) => backend.resync!(peers) : undefined,
        onRevoked: () => {
          stop();
          log.info('Lease has been revoked. Shutting down daemon.');
          resolve(0);
        },
      },
    );
    void notifyReady().then((err) => err && log.error(err));
  });
}

function main(): void {
  const log = logger('main.go');
  const onSignal = (sig: string) => {
    // Lease, devices, routes and rules stay in place in every release.
    const status = sigtermExitStatus(standinVersion);
    log.info(`Received ${sig}; shutdownHandler sent cancel signal...`);
    if (status === 2) {
      // flannel 0.18–0.21.2: the cancelled etcd watch returns a response without events and
      // watchSubnets indexes wresp.Events[0] (FLANNEL.md §9).
      process.stderr.write(
        'panic: runtime error: index out of range [0] with length 0\n\n' +
          'goroutine 1 [running]:\ngithub.com/flannel-io/flannel/subnet/etcd.(*etcdSubnetRegistry).watchSubnets(...)\n' +
          '\t(flanneld stand-in: emulating the panic of this release; exit status 2)\n',
      );
    } else {
      log.info('Exiting cleanly...');
    }
    process.exit(status);
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  run(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      if (e instanceof FlagError) {
        process.stderr.write(`${e.message}\n${usage(flavourOf(standinVersion))}`);
        process.exit(e.exitCode);
      }
      log.error(e instanceof Fatal ? e.message : `unexpected error: ${(e as Error).stack ?? String(e)}`);
      process.exit(e instanceof Fatal ? e.exitCode : 1);
    },
  );
}

main();
