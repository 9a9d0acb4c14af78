import { tidewireProject } from '../../scripts/vitest-project.ts';

// --expose-gc: the filter memory test checks that no user is retained.
export default tidewireProject('notifier', { execArgv: ['--expose-gc'] });
