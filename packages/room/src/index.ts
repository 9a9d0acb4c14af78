export {
  nodeOfRoom,
  ROOM_ID_SEPARATOR,
  RoomCommand,
  RoomErrorCode,
  RoomEvent,
} from './protocol.ts';
export {
  type CreateOptions,
  installRooms,
  type Properties,
  type PropertyUpdate,
  type RoomHooks,
  RoomService,
  type RoomServiceOptions,
  type RoomSnapshot,
} from './service.ts';
