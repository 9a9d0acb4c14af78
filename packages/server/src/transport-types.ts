/**
 * The transport types a node can serve (the seed's `TCPType` and `UDPType`).
 * They name a transport in session URLs (`/v1/endpoint/{type}/user/{uid}`),
 * in tickets, in the node registry and in `user.transport`.
 */

/** The TCP transport (`@tidewire/transport-tcp`). */
export const TCPType = 'tcp';
/** The reliable UDP transport (`@tidewire/transport-udp`). */
export const UDPType = 'udp';
/**
 * The WebSocket transport (`@tidewire/transport-ws`). Reserved: a node serves
 * it once its adapter is registered in `transports/registry.ts`.
 */
export const WSType = 'ws';

/** A transport type: the node serves those whose adapter is registered and set up. */
export type Transport = typeof TCPType | typeof UDPType | typeof WSType;
