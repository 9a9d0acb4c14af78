import { defineConfig } from 'vitest/config';

// One `pnpm test` at the root runs every package and app as its own project.
// Workspace packages resolve to their TypeScript sources through the
// `@tidewire/source` export condition, so tests never see a stale build.
export default defineConfig({
  resolve: { conditions: ['@tidewire/source'] },
  ssr: { resolve: { conditions: ['@tidewire/source'], externalConditions: ['@tidewire/source'] } },
  test: {
    projects: ['packages/*', 'apps/*', 'scripts/readme-examples'],
    reporters: ['default', './scripts/summary-reporter.ts'],
  },
});
