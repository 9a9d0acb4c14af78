import { defineProject, type UserWorkspaceConfig } from 'vitest/config';

// Every package and app is a vitest project. Workspace packages resolve to
// their TypeScript sources through the `@tidewire/source` export condition,
// for both the client and the server (node) module graphs, so tests never
// depend on a build.
const conditions = ['@tidewire/source'];

export function tidewireProject(
  name: string,
  test: UserWorkspaceConfig['test'] = {},
): UserWorkspaceConfig {
  return defineProject({
    resolve: { conditions },
    ssr: { resolve: { conditions, externalConditions: conditions } },
    // Set here: a project does not inherit the root config's test options
    // (the root's 30 s never applied; tests ran with vitest's 5 s default and
    // the 4.4 s Redis cluster test timed out under CI load).
    test: {
      name,
      include: ['test/**/*.test.ts'],
      testTimeout: 30_000,
      hookTimeout: 30_000,
      ...test,
    },
  });
}
