export type { CreateOptions, Properties, PropertyUpdate } from './args.ts';
export {
  nodeOfRoom,
  ROOM_ID_SEPARATOR,
  ROOM_MESH_TOPIC,
  RoomClosedReason,
  RoomCommand,
  RoomErrorCode,
  RoomEvent,
} from './protocol.ts';
export {
  installRooms,
  type RoomHooks,
  RoomService,
  type RoomServiceOptions,
  type RoomSnapshot,
} from './service.ts';
