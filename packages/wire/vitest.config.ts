import { defineProject } from 'vitest/config';

export default defineProject({
  resolve: { conditions: ['@tidewire/source'] },
  test: { name: 'wire', include: ['test/**/*.test.ts'] },
});
