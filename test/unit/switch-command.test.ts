import { describe, expect, it } from 'vitest';
import SwitchBackend from '../../src/commands/switch-backend.js';
import { runCommand } from './run-command.js';

describe('flanctl switch-backend flags', () => {
  it('rejects options that do not apply to the target backend (exit 2), before touching anything', async () => {
    for (const [argv, flag] of [
      [['host-gw', '--vni', '5'], '--vni'],
      [['host-gw', '--direct-routing'], '--direct-routing'],
      [['ipip', '--port', '9999'], '--port'],
      [['wireguard', '--vni', '3'], '--vni'],
    ] as const) {
      const r = await runCommand(SwitchBackend, [...argv, '-i', '/nonexistent/inventory.yaml']);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(`${flag} does not apply to ${argv[0]}`);
    }
  });

  it('rejects an unknown backend (exit 2)', async () => {
    const r = await runCommand(SwitchBackend, ['hostgw', '-i', '/nonexistent/inventory.yaml']);
    expect(r.code).toBe(2);
  });

  it('names the missing inventory (exit 2)', async () => {
    const r = await runCommand(SwitchBackend, ['vxlan', '--direct-routing', '-i', '/nonexistent/inventory.yaml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('/nonexistent/inventory.yaml');
  });
});
