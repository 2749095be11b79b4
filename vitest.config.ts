import { defineConfig } from 'vitest/config';

// unit: fast, parallel, fakes of our own seams only.
// system: real etcd, sshd, supervisord, iptables and network namespaces (root); files run one at a time
// because they share the machine's 2 cores and each brings up its own etcd or lab.
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 20_000 } },
      {
        test: {
          name: 'system',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts', 'test/faults/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
          pool: 'forks',
          poolOptions: { forks: { singleFork: true } },
        },
      },
    ],
  },
});
