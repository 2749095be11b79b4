import { defineConfig } from 'vitest/config';

// unit: fast, parallel, fakes of our own seams only.
// system: real etcd, sshd, supervisord, iptables and network namespaces (root). Each file brings up its
// own etcd or lab (own lab index, bridge, addresses, temp dir), so two files run at once: the labs
// spend most of their time waiting on daemons and the network, and one at a time took over 20 minutes.
export default defineConfig({
  test: {
    // At most two test files at once in either project (system: two labs; unit: 2 cores).
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    // No tarball digest cache in ~/.cache from tests (bootstrap/tarball-cache.ts); its own test sets a temp dir.
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 20_000, env: { FLANCTL_TARBALL_CACHE: 'off' } } },
      {
        test: {
          env: { FLANCTL_TARBALL_CACHE: 'off' },
          name: 'system',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts', 'test/faults/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
          pool: 'forks',
        },
      },
    ],
  },
});
