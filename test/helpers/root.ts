/**
 * Tests that need root (namespaces, iptables, sshd, etcd on the bridge) use describeRoot.
 * Outside CI without root they skip with a loud reason; under CI=true they must run, so a missing
 * root there is a failure, not a skip.
 */
import { describe } from 'vitest';

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
export const inCI = process.env.CI === 'true';

export function describeRoot(name: string, fn: () => void): void {
  if (isRoot) {
    describe(name, fn);
    return;
  }
  if (inCI) {
    describe(name, () => {
      throw new Error(`${name}: needs root, and CI=true forbids skipping it`);
    });
    return;
  }
  console.warn(`\n!!! SKIPPED (needs root): ${name}\n`);
  describe.skip(name, fn);
}
