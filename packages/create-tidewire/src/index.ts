export { type CreatedProject, createProject, PROJECT_PACKAGES } from './create.ts';
export { CreateError, CreateErrorCode } from './errors.ts';
export {
  DEV_DEPENDENCIES,
  PAGE_DEV_DEPENDENCIES,
  type ProjectSpec,
  projectFiles,
} from './files.ts';
export {
  type CreateOptions,
  type ProjectTransport,
  parseCreateArgs,
  TRANSPORTS,
  USAGE,
} from './options.ts';
