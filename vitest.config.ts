import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

const lib = (name: string) => fileURLToPath(new URL(`./libs/${name}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run the TypeScript sources of the libs; spawned app processes run the built dist/.
    alias: {
      // Before the main entry: an alias matches by prefix, so '@chorus/contracts' would also take the subpath.
      '@chorus/contracts/limits': fileURLToPath(new URL('./libs/contracts/src/limits.ts', import.meta.url)),
      '@chorus/contracts': lib('contracts'),
      '@chorus/audio': lib('audio'),
      '@chorus/runtime': lib('runtime'),
      '@chorus/store': lib('store'),
      '@chorus/testkit': lib('testkit'),
    },
  },
  test: {
    include: ['apps/*/test/**/*.test.ts', 'libs/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    pool: 'forks',
    // A 2-core machine: files that spawn stacks of processes must not all run at once.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
