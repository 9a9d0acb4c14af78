/**
 * The engine's module-level API, bound to one default server per process,
 * for code ported from it. New code should prefer `createServer()`.
 *
 *   import * as server from '@tidewire/server';
 *   await server.setupAsTCPServer('./config.json');
 *   server.handleCommand(2, 1, (ver, cmd, payload, user, next) => { ... next(); });
 *   await server.start();
 */
import type { CommandHandler, CommandHook, KeepAliveHandler, Next } from '@tidewire/command-router';
import type {
  Notification,
  NotificationFilter,
  NotificationLoader,
  NotificationServiceOptions,
} from '@tidewire/notifier';
import { Status } from '@tidewire/wire';
import {
  type CloudSetupOptions,
  createServer,
  type DebugCommandCallback,
  type DisconnectCallback,
  type NotificationOptions,
  type TidewireServer,
} from './server.ts';
import type { User } from './user.ts';

let instance: TidewireServer | null = null;

/** The default server of this process, created on first use. */
export function defaultServer(): TidewireServer {
  instance ??= createServer();
  return instance;
}

/** Response status Ok (1). */
export const Ok: 1 = Status.Ok;
/** Response status Bad (4). */
export const Bad: 4 = Status.Bad;
/** Response status Err (5). */
export const Err: 5 = Status.Err;

export function setupAsTCPServer(path = ''): Promise<void> {
  return defaultServer().setupAsTCPServer(path);
}
export function start(): Promise<void> {
  return defaultServer().start();
}
export function handleCommand(ver: number, cmd: number, handler: CommandHandler<User>): void {
  defaultServer().handleCommand(ver, cmd, handler);
}
/** @deprecated Use `handleCommand`. */
export function command(
  ver: number,
  cmd: number,
  handler: (user: User, next: Next) => void | Promise<void>,
): void {
  defaultServer().command(ver, cmd, handler);
}
export function hookAllCommands(hook: CommandHook<User>): void {
  defaultServer().hookAllCommands(hook);
}
export function onKeepAlive(handler: KeepAliveHandler<User>): void {
  defaultServer().onKeepAlive(handler);
}
export function onDisconnect(callback: DisconnectCallback): void {
  defaultServer().onDisconnect(callback);
}
export function isCommandDuplicate(ver: number, cmd: number): boolean {
  return defaultServer().isCommandDuplicate(ver, cmd);
}
export function online(): void {
  defaultServer().online();
}
export function taken(): void {
  defaultServer().taken();
}
export function offline(): void {
  defaultServer().offline();
}
export function markServerAsTakenIf(callback: () => boolean): void {
  defaultServer().markServerAsTakenIf(callback);
}
export function exposeDebugCommands(): void {
  defaultServer().exposeDebugCommands();
}
export function isDebugCommandsEnabled(): boolean {
  return defaultServer().isDebugCommandsEnabled();
}
export function setDebugCommandCallback(cmd: number, callback: DebugCommandCallback): void {
  defaultServer().setDebugCommandCallback(cmd, callback);
}
export function getEndPoint(): string {
  return defaultServer().getEndPoint();
}
export function setPublicEndPoint(address: string): void {
  defaultServer().setPublicEndPoint(address);
}
export function setupServerForAWS(options?: CloudSetupOptions): Promise<void> {
  return defaultServer().setupServerForAWS(options);
}
export function setupServerForGCP(options?: CloudSetupOptions): Promise<void> {
  return defaultServer().setupServerForGCP(options);
}
export function setupServerForAzure(options?: CloudSetupOptions): Promise<void> {
  return defaultServer().setupServerForAzure(options);
}
export function setupServerForAlibaba(options?: CloudSetupOptions): Promise<void> {
  return defaultServer().setupServerForAlibaba(options);
}
export function setupServerForLinode(options?: CloudSetupOptions): Promise<void> {
  return defaultServer().setupServerForLinode(options);
}
export function setupServerForTencent(options?: CloudSetupOptions): Promise<void> {
  return defaultServer().setupServerForTencent(options);
}
export function setupGenericCloudServer(options?: CloudSetupOptions): Promise<void> {
  return defaultServer().setupGenericCloudServer(options);
}
export function enableNotifications(options?: NotificationOptions): void {
  defaultServer().enableNotifications(options);
}
export function notificationService(
  name: string,
  loader: NotificationLoader,
  intervalMs: number,
  options?: NotificationServiceOptions,
): () => void {
  return defaultServer().notificationService(name, loader, intervalMs, options);
}
export function notify(
  notification: Notification,
  options?: { local?: boolean },
): Promise<boolean> {
  return defaultServer().notify(notification, options);
}
export function setOnNotification(name: string, filter: NotificationFilter<User>): void {
  defaultServer().setOnNotification(name, filter);
}
export function deleteNotification(id: string): Promise<void> {
  return defaultServer().deleteNotification(id);
}
/** @deprecated The engine's `SendPM`: use `sendToUser`. */
export function sendPM(
  nodeId: string,
  sid: string,
  ver: number,
  cmd: number,
  message: Uint8Array,
): Promise<void> {
  return defaultServer().sendPM(nodeId, sid, ver, cmd, message);
}
export function sendToUser(
  userId: string,
  ver: number,
  cmd: number,
  payload: Uint8Array,
): Promise<void> {
  return defaultServer().sendToUser(userId, ver, cmd, payload);
}
export function setupAsUDPServer(path = ''): Promise<void> {
  return defaultServer().setupAsUDPServer(path);
}
export function setupAsConnector(path = ''): Promise<void> {
  return defaultServer().setupAsConnector(path);
}
export function isP2PEnabled(): boolean {
  return defaultServer().isP2PEnabled();
}
export function isTCP(): boolean {
  return defaultServer().isTCP();
}
export function isUDP(): boolean {
  return defaultServer().isUDP();
}
