import { defineProject } from 'vitest/config';

export default defineProject({
  resolve: { conditions: ['@tidewire/source'] },
  test: { name: 'cloud-endpoint', include: ['test/**/*.test.ts'] },
});
