import { tidewireProject } from '../vitest-project.ts';

// Builds the workspace first (turbo, cached: a minute on a cold cache) and
// runs each example as a child process. It runs after every other project
// (groupOrder 1), so that the build does not load the machine while the
// timing-sensitive tests of the other projects run.
export default tidewireProject('readme-examples', {
  hookTimeout: 300_000,
  testTimeout: 60_000,
  sequence: { groupOrder: 1 },
});
