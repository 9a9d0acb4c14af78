import { channel } from 'node:diagnostics_channel';

/** Diagnostics channel names published by this package. */
export const CloudChannel = {
  /** `{ provider, ipv4?, ipv6?, durationMs }` after a resolver succeeded. */
  Resolved: 'tidewire:cloud-endpoint:resolved',
  /** `{ provider, code, step, durationMs, error }` after a resolver failed. */
  Failed: 'tidewire:cloud-endpoint:failed',
} as const;

export const resolvedChannel: ReturnType<typeof channel> = channel(CloudChannel.Resolved);
export const failedChannel: ReturnType<typeof channel> = channel(CloudChannel.Failed);
