/** Error codes raised by `@tidewire/notifier`. */
export const NotifierErrorCode = {
  /** A notification is malformed: missing or empty id, bad name, ver, cmd or message type. */
  InvalidNotification: 'TIDEWIRE_ERR_NOTIFICATION_INVALID',
  /** `ttlMs` is not a finite integer >= 0. */
  InvalidTtl: 'TIDEWIRE_ERR_NOTIFICATION_TTL',
  /** The message is larger than `maxMessageBytes`. */
  MessageTooLarge: 'TIDEWIRE_ERR_NOTIFICATION_TOO_LARGE',
  /** An option or argument is out of range or of the wrong type. */
  InvalidArgument: 'TIDEWIRE_ERR_INVALID_ARGUMENT',
  /** The notifier was closed. */
  Closed: 'TIDEWIRE_ERR_NOTIFIER_CLOSED',
} as const;

export type NotifierErrorCode = (typeof NotifierErrorCode)[keyof typeof NotifierErrorCode];
