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
    test: { name, include: ['test/**/*.test.ts'], ...test },
  });
}
