/** Stable codes of the errors `create-tidewire` throws. */
export const CreateErrorCode = {
  /** An unknown option, a missing value or a bad transport name. */
  InvalidArgument: 'TIDEWIRE_ERR_INVALID_ARGUMENT',
  /** The target folder exists and is not empty. */
  TargetNotEmpty: 'TIDEWIRE_ERR_TARGET_NOT_EMPTY',
  /** `--tarballs` names a folder without the @tidewire tarballs the project needs. */
  TarballMissing: 'TIDEWIRE_ERR_TARBALL_MISSING',
} as const;

export type CreateErrorCode = (typeof CreateErrorCode)[keyof typeof CreateErrorCode];

export class CreateError extends Error {
  override readonly name = 'CreateError';
  readonly code: CreateErrorCode;

  constructor(code: CreateErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}
