export { BaseMesh, DEFAULT_REQUEST_TIMEOUT_MS, DEFAULT_TTL_MS } from './base-mesh.ts';
export {
  MeshChannel,
  type MeshConnectionEvent,
  type MeshDroppedEvent,
  type MeshMessageEvent,
  type MeshNodeEvent,
} from './channels.ts';
export {
  type CreateMeshOptions,
  createMesh,
  MESH_URL_ENV,
  type MeshConfig,
} from './create-mesh.ts';
export { MeshErrorCode } from './errors.ts';
export { MemoryMesh, MemoryMeshHub, type MemoryMeshOptions } from './memory-mesh.ts';
export {
  DEFAULT_COMMAND_TIMEOUT_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_KEY_PREFIX,
  RedisMesh,
  type RedisMeshOptions,
} from './redis-mesh.ts';
export { endpointFor, pickNode, servesRole } from './select.ts';
export type {
  ClientInfo,
  Mesh,
  MeshMessage,
  MeshOptions,
  MessageHandler,
  NodeFilter,
  NodeInfo,
  NodePatch,
  NodeRegistration,
  NodeRole,
  SelectOptions,
  ServerState,
  SessionTicket,
  UserLocation,
  UserMessageHandler,
  UserTarget,
} from './types.ts';
