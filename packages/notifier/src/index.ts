export { NotifierErrorCode } from './errors.ts';
export { MemoryDeliveryLedger } from './memory-ledger.ts';
export { NOTIFICATION_TOPIC, Notifier } from './notifier.ts';
export type {
  DeliveryLedger,
  Notification,
  NotificationBus,
  NotificationFilter,
  NotificationLoader,
  NotificationServiceOptions,
  NotifierOptions,
  NotifierUser,
} from './types.ts';
