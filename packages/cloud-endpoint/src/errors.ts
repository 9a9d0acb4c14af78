/** Where in a resolution a failure happened. */
export type CloudStep = 'token' | 'fetch' | 'parse' | 'timeout' | 'config';

/** Error codes raised by `@tidewire/cloud-endpoint`. */
export const CloudEndpointErrorCode = {
  /** The metadata service refused or failed the session-token request. */
  Token: 'TIDEWIRE_ERR_CLOUD_TOKEN',
  /** The request failed (network error, refused header, unexpected HTTP status). */
  Fetch: 'TIDEWIRE_ERR_CLOUD_FETCH',
  /** The service answered, but this instance has no public address there (404 or empty). */
  NoPublicAddress: 'TIDEWIRE_ERR_CLOUD_NO_PUBLIC_ADDRESS',
  /** The answer is not a valid IP address (HTML, error page, garbage, oversized body). */
  Parse: 'TIDEWIRE_ERR_CLOUD_PARSE',
  /** The per-call deadline passed before an answer. */
  Timeout: 'TIDEWIRE_ERR_CLOUD_TIMEOUT',
  /** The caller's `AbortSignal` aborted. */
  Aborted: 'TIDEWIRE_ERR_CLOUD_ABORTED',
  /** `detect()` found no provider that gave a public address. */
  NotDetected: 'TIDEWIRE_ERR_CLOUD_NOT_DETECTED',
  /** A configured address (config or `TIDEWIRE_PUBLIC_ENDPOINT`) is not an IP or host name. */
  InvalidAddress: 'TIDEWIRE_ERR_CLOUD_INVALID_ADDRESS',
  /** An option is out of range or of the wrong type. */
  InvalidArgument: 'TIDEWIRE_ERR_CLOUD_INVALID_ARGUMENT',
} as const;

export type CloudEndpointErrorCode =
  (typeof CloudEndpointErrorCode)[keyof typeof CloudEndpointErrorCode];

export interface CloudEndpointErrorOptions extends ErrorOptions {
  /** HTTP status of the answer that caused the error, when there was one. */
  status?: number;
  /** For `NotDetected`: the error of every provider tried. */
  errors?: readonly Error[];
}

/**
 * Every failure of this package: a stable `code`, the `provider` that failed
 * (`'auto'` for `detect()`, `'static'` for configuration) and the `step`.
 */
export class CloudEndpointError extends Error {
  readonly code: CloudEndpointErrorCode;
  readonly provider: string;
  readonly step: CloudStep;
  readonly status: number | undefined;
  readonly errors: readonly Error[];

  constructor(
    code: CloudEndpointErrorCode,
    provider: string,
    step: CloudStep,
    message: string,
    options?: CloudEndpointErrorOptions,
  ) {
    super(`${provider}: ${message}`, options);
    this.name = 'CloudEndpointError';
    this.code = code;
    this.provider = provider;
    this.step = step;
    this.status = options?.status;
    this.errors = options?.errors ?? [];
  }
}

/** True when `err` is a `CloudEndpointError`, optionally with the given code. */
export function isCloudEndpointError(
  err: unknown,
  code?: CloudEndpointErrorCode,
): err is CloudEndpointError {
  return err instanceof CloudEndpointError && (code === undefined || err.code === code);
}
