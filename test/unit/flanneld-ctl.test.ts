import { describe, expect, it } from 'vitest';
import { ctlArgv, ctlScript, parseCtlOutput } from '../../src/steps/flanneld-ctl.js';
import { FLANNELD_CTL_SCRIPT } from '../../src/steps/flanneld-ctl.sh.js';
import { inventoryYaml, testInventory } from './bootstrap-fakes.js';

describe('flanneld-ctl', () => {
  it('argv: marker, manager, action, subnet file, timeout in whole seconds, healthz port, since', async () => {
    const inv = await testInventory(inventoryYaml());
    expect(ctlArgv(inv, 'wait', { timeoutMs: 4500, since: '17 2026-11-30 23:34:47.0 +0000' })).toEqual([
      'sh', '-s', '--', 'flanneld-ctl', 'supervisord', 'wait', '/run/flannel/subnet.env', '5', String(inv.flannel.healthzPort), '17 2026-11-30 23:34:47.0 +0000',
    ]);
    expect(ctlArgv(inv, 'start', { timeoutMs: 100 })[7]).toBe('1');
  });

  it('the cleanup commands become a quoted after_stop function ahead of the script', () => {
    const s = ctlScript([['ip', 'route', 'del', '10.244.3.0/24', 'via', '10.77.0.13'], ['ip', 'link', 'del', "x'; reboot; '"]]);
    expect(s.startsWith("after_stop() {\n  act_ ip route del 10.244.3.0/24 via 10.77.0.13\n  act_ ip link del 'x'\\''; reboot; '\\'''\n}\n")).toBe(true);
    expect(ctlScript([])).toBe(FLANNELD_CTL_SCRIPT);
    // Every piece interpolated (upper-case constants); what is left of \${ is the shell's own expansion.
    expect(FLANNELD_CTL_SCRIPT).not.toMatch(/\$\{[A-Z]|undefined|\[object /);
    expect(FLANNELD_CTL_SCRIPT).toContain('member() {');
  });

  it('parses a stop with its cleanup results and the state after them', () => {
    const r = parseCtlOutput([
      '@result stopped', '@why ', '@via xmlrpc', '@state STOPPED', '@token 16 2026-11-30 23:23:56.6 +0000', '@healthz none', '@backoffs 0', '@ms 190',
      '@action 0 ', '@action 1 Cannot find device "flannel.1" ',
      '@links', '[{"ifname":"lo"},{"ifname":"eth0"}]', '', '@routes', '[]', '',
    ].join('\n'));
    expect(r).toMatchObject({ result: 'stopped', via: 'xmlrpc', state: 'STOPPED', ms: 190, links: '[{"ifname":"lo"},{"ifname":"eth0"}]', routes: '[]' });
    expect(r.actions).toEqual([{ code: 0, stderr: '' }, { code: 1, stderr: 'Cannot find device "flannel.1"' }]);
    expect(r.subnetEnv).toBeUndefined();
  });

  it('parses a timeout with its reason, and subnet.env after a ready start', () => {
    const t = parseCtlOutput('@result timeout\n@why flanneld is RUNNING but has not written /run/flannel/subnet.env\n@via supervisorctl\n@state RUNNING\n@token none\n@healthz none\n@backoffs 1\n@ms 4012\n@subnetenv\n');
    expect(t).toMatchObject({ result: 'timeout', why: 'flanneld is RUNNING but has not written /run/flannel/subnet.env', token: 'none', backoffs: 1, subnetEnv: undefined });
    const ok = parseCtlOutput('@result ready\n@why \n@via systemd\n@state active\n@token 9 x\n@healthz ok\n@backoffs 0\n@ms 800\n@subnetenv\nFLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.7.1/24\n');
    expect(ok).toMatchObject({ result: 'ready', via: 'systemd', healthz: 'ok', subnetEnv: 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.7.1/24\n' });
  });

  it('output without a result line is an error, never "ready"', () => {
    expect(parseCtlOutput('sh: 1: syntax error\n')).toMatchObject({ result: 'error', why: 'the control script printed no result' });
  });
});
