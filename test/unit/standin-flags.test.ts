import { describe, expect, it } from 'vitest';
import { describeOptions, envName, FlagError, parseFlags, parseGoBool } from '../../lab/flanneld-standin/src/flags.js';

describe('flanneld stand-in flags (Go flag package rules, FLANNEL.md §3)', () => {
  it('accepts -flag=v, -flag v, --flag=v and --flag v', () => {
    const { options } = parseFlags(
      ['-etcd-prefix=/a', '-subnet-file', '/b.env', '--public-ip=10.0.0.9', '--healthz-port', '8471'],
      {},
      'v0.20',
    );
    expect(options.etcdPrefix).toBe('/a');
    expect(options.subnetFile).toBe('/b.env');
    expect(options.publicIp).toBe('10.0.0.9');
    expect(options.healthzPort).toBe(8471);
  });

  it('has flanneld defaults', () => {
    const { options } = parseFlags([], {}, 'v0.20');
    expect(options.etcdEndpoints).toEqual(['http://127.0.0.1:4001', 'http://127.0.0.1:2379']);
    expect(options.etcdPrefix).toBe('/coreos.com/network');
    expect(options.subnetFile).toBe('/run/flannel/subnet.env');
    expect(options.subnetLeaseRenewMargin).toBe(60);
    expect(options.ipMasq).toBe(false);
    expect(options.iptablesForwardRules).toBe(true);
    expect(options.healthzIp).toBe('0.0.0.0');
    expect(options.healthzPort).toBe(0);
  });

  it('treats a bare boolean flag as true and does not consume the next argument', () => {
    const { options, warnings } = parseFlags(['-ip-masq', '-iface=eth0'], {}, 'v0.20');
    expect(options.ipMasq).toBe(true);
    expect(options.iface).toEqual(['eth0']);
    expect(warnings).toEqual([]);
    expect(parseFlags(['-iptables-forward-rules=false'], {}, 'v0.20').options.iptablesForwardRules).toBe(false);
  });

  it('repeats -iface and splits -etcd-endpoints on commas', () => {
    const { options } = parseFlags(['-iface', 'eth1', '-iface=10.0.0.2', '-etcd-endpoints=https://a:2379, https://b:2379'], {}, 'v0.20');
    expect(options.iface).toEqual(['eth1', '10.0.0.2']);
    expect(options.etcdEndpoints).toEqual(['https://a:2379', 'https://b:2379']);
  });

  it('reads FLANNELD_* variables, and the command line wins', () => {
    const env = { FLANNELD_ETCD_PREFIX: '/from-env', FLANNELD_IP_MASQ: 'true', FLANNELD_SUBNET_FILE: '/env.env' };
    const { options } = parseFlags(['-subnet-file=/arg.env'], env, 'v0.20');
    expect(options.etcdPrefix).toBe('/from-env');
    expect(options.ipMasq).toBe(true);
    expect(options.subnetFile).toBe('/arg.env');
    expect(envName('subnet-lease-renew-margin')).toBe('FLANNELD_SUBNET_LEASE_RENEW_MARGIN');
  });

  it('warns about unknown flags instead of failing', () => {
    const { options, warnings } = parseFlags(['-no-such-flag=1', '-ip-masq'], {}, 'v0.20');
    expect(warnings).toEqual([expect.stringContaining('-no-such-flag')]);
    expect(options.ipMasq).toBe(true);
  });

  it('knows only v0.11 flags in the v0.11 flavour', () => {
    expect(parseFlags(['-iface-can-reach=10.0.0.1'], {}, 'v0.11').warnings).toHaveLength(1);
    expect(parseFlags(['-iface-can-reach=10.0.0.1'], {}, 'v0.20').warnings).toHaveLength(0);
  });

  it('stops at the first non-flag argument, like Go', () => {
    const { options, warnings } = parseFlags(['-ip-masq', 'stray', '-iface=eth0'], {}, 'v0.20');
    expect(options.iface).toEqual([]);
    expect(warnings.join('\n')).toContain('stray');
  });

  it('rejects bad values with exit code 2', () => {
    const bad = (argv: string[]) => {
      try {
        parseFlags(argv, {}, 'v0.20');
      } catch (e) {
        return e as FlagError;
      }
      return undefined;
    };
    expect(bad(['-ip-masq=maybe'])?.message).toBe('invalid boolean value "maybe" for -ip-masq flag: parse error');
    expect(bad(['-healthz-port=http'])?.exitCode).toBe(2);
    expect(bad(['-etcd-prefix'])?.message).toBe('flag needs an argument: -etcd-prefix');
    expect(bad(['---x'])?.message).toContain('bad flag syntax');
  });

  it('parses booleans like strconv.ParseBool', () => {
    expect(['1', 't', 'T', 'TRUE', 'true', 'True'].map(parseGoBool)).toEqual(Array(6).fill(true));
    expect(['0', 'f', 'F', 'FALSE', 'false', 'False'].map(parseGoBool)).toEqual(Array(6).fill(false));
    expect(parseGoBool('yes')).toBeUndefined();
  });

  it('masks the etcd password in the logged flag config', () => {
    const { options } = parseFlags(['-etcd-password=s3cret'], {}, 'v0.20');
    expect(describeOptions(options)).not.toContain('s3cret');
    expect(JSON.parse(describeOptions(options))['etcd-password']).toBe('********');
  });
});
