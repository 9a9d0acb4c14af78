import { defineProject } from 'vitest/config';

export default defineProject({
  resolve: { conditions: ['@tidewire/source'] },
  test: { name: 'transport-tcp', include: ['test/**/*.test.ts'] },
});
