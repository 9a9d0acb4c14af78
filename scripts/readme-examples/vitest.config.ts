import { tidewireProject } from '../vitest-project.ts';

// Builds the workspace first (turbo, cached) and runs each example as a child
// process: a minute on a cold cache.
export default tidewireProject('readme-examples', { hookTimeout: 300_000, testTimeout: 60_000 });
