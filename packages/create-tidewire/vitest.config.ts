import { tidewireProject } from '../../scripts/vitest-project.ts';

export default tidewireProject('create-tidewire');
