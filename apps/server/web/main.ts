/**
 * The demo page: a chat in a `@tidewire/room` room over the WebSocket
 * transport, with each member's round-trip time. Open it twice: the second
 * page joins the room named in the first one's address (#room=...). The
 * header shows the connection's state (also `document.body.dataset.state`):
 * the client reconnects and resumes by itself; after a fresh session the
 * page joins its room again (or opens a new one if the room is gone).
 */
import { connect, type TidewireClient } from '@tidewire/client';
import {
  type MemberEvent,
  RoomCommand,
  RoomEvent,
  type RoomMessageEvent,
  type RoomSnapshot,
} from '@tidewire/room/protocol';
import { BUILTIN_VER, packBytes as pack, unpackBytes as unpack } from '@tidewire/wire/portable';
import {
  type ConnectionEvent,
  type ConnectionState,
  INITIAL_STATE,
  label,
  nextState,
} from './connection-state.ts';

/** What each member broadcasts: a chat line, or its measured RTT. */
type Note = { kind: 'say'; text: string } | { kind: 'rtt'; ms: number };

const $ = (id: string): HTMLElement => document.getElementById(id)!;
const rtts = new Map<string, number>();
const encoder = new TextEncoder();
const decoder = new TextDecoder();

let state: ConnectionState = INITIAL_STATE;

/** Moves the connection state on and shows it: the status line, body[data-state], body[data-attempt]. */
function show(event: ConnectionEvent): void {
  state = nextState(state, event);
  const status = $('status');
  status.textContent = label(state);
  status.className = state.name;
  document.body.dataset.state = state.name;
  if (state.name === 'reconnecting') document.body.dataset.attempt = String(state.attempt);
  else delete document.body.dataset.attempt;
}

function line(text: string, from?: string): void {
  const li = document.createElement('li');
  if (from === undefined) {
    li.className = 'system';
    li.textContent = text;
  } else {
    const who = document.createElement('span');
    who.className = 'from';
    who.textContent = from;
    li.append(who, document.createTextNode(text));
  }
  $('messages').append(li);
}

function renderMembers(): void {
  const list = $('members');
  list.replaceChildren(
    ...[...rtts].map(([user, ms]) => {
      const li = document.createElement('li');
      li.dataset.user = user;
      const rtt = document.createElement('span');
      rtt.className = 'rtt';
      rtt.textContent = ms > 0 ? `${ms.toFixed(1)} ms` : '…';
      li.append(document.createTextNode(user), rtt);
      return li;
    }),
  );
}

/** A room command (ver 1, the built-in module); its answer, or an error with the refusal's message. */
async function call<T>(client: TidewireClient, cmd: RoomCommand, body: unknown): Promise<T> {
  const answer = await client.request(BUILTIN_VER, cmd, pack(body));
  const value = unpack(answer.payload);
  if (!answer.ok) {
    const refusal = value as { code?: string; message?: string };
    throw new Error(String(refusal.message ?? refusal.code ?? 'refused'));
  }
  return value as T;
}

/** Joins `roomId`, or opens a new room when there is none (or it is gone); shows it. */
async function enterRoom(
  client: TidewireClient,
  params: URLSearchParams,
  roomId: string | null,
): Promise<string> {
  let room: RoomSnapshot | null = null;
  if (roomId !== null) {
    try {
      room = await call<RoomSnapshot>(client, RoomCommand.Join, { roomId });
    } catch (err) {
      line(`room ${roomId} is gone (${(err as Error).message}): opening a new one`);
    }
  }
  room ??= await call<RoomSnapshot>(client, RoomCommand.Create, { maxMembers: 16 });
  const id = room.roomId;
  params.set('room', id);
  history.replaceState(null, '', `#${params}`);
  const link = new URL(location.href);
  link.hash = `room=${id}`;
  $('share').textContent = `Invite: ${link}`;
  rtts.clear();
  for (const member of room.members) rtts.set(member, 0);
  renderMembers();
  line(`joined room ${id}`);
  document.body.dataset.room = id;
  return id;
}

async function main(): Promise<void> {
  const params = new URLSearchParams(location.hash.slice(1));
  const uid = params.get('user') ?? `guest-${Math.random().toString(36).slice(2, 7)}`;
  const client = await connect({ uid, transport: 'ws', keepAliveIntervalMs: 1000 });
  show({ type: 'connected', userId: client.userId });
  client.on('reconnecting', ({ attempt, code }) => show({ type: 'reconnecting', attempt, code }));
  client.on('resumed', () => show({ type: 'resumed', userId: client.userId }));
  client.on('gave-up', ({ attempts, code }) => show({ type: 'gave-up', attempts, code }));
  client.on('close', ({ code }) => show({ type: 'close', code }));
  let roomId = await enterRoom(client, params, params.get('room'));
  client.on('reconnected-fresh', ({ reason }) => {
    show({ type: 'reconnected-fresh', userId: client.userId, reason });
    // A new session is a new member: the room (if it is still there) is joined again.
    enterRoom(client, params, roomId).then(
      (id) => {
        roomId = id;
      },
      (err: unknown) => line(`could not rejoin: ${(err as Error).message}`),
    );
  });

  const broadcast = (note: Note): void => {
    call(client, RoomCommand.Broadcast, {
      roomId,
      data: encoder.encode(JSON.stringify(note)),
    }).catch(
      () => {}, // not in the room for a moment (a fresh session rejoining), or closed
    );
  };

  client.on('push', ({ ver, cmd, payload }) => {
    if (ver !== BUILTIN_VER) return;
    if (cmd === RoomEvent.MemberJoined) {
      const { userId } = unpack(payload) as MemberEvent;
      rtts.set(userId, 0);
      line(`${userId} joined`);
      renderMembers();
      broadcast({ kind: 'rtt', ms: client.latency });
    } else if (cmd === RoomEvent.MemberLeft) {
      const { userId } = unpack(payload) as MemberEvent;
      rtts.delete(userId);
      line(`${userId} left`);
      renderMembers();
    } else if (cmd === RoomEvent.Message) {
      const body = unpack(payload) as RoomMessageEvent;
      const note = JSON.parse(decoder.decode(body.data)) as Note;
      const from = body.from ?? 'server';
      if (note.kind === 'say') line(note.text, from);
      else {
        rtts.set(from, note.ms);
        renderMembers();
      }
    }
  });

  // Our own RTT from the keep-alives, shown here and shared with the room.
  const rttTimer = setInterval(() => {
    if (client.reconnecting) return;
    rtts.set(uid, client.latency);
    renderMembers();
    broadcast({ kind: 'rtt', ms: client.latency });
  }, 1000);
  client.on('close', () => clearInterval(rttTimer));

  $('say').addEventListener('submit', (event) => {
    event.preventDefault();
    const input = $('text') as HTMLInputElement;
    const text = input.value.trim();
    if (text === '') return;
    input.value = '';
    line(text, uid);
    broadcast({ kind: 'say', text });
  });
}

main().catch((err: unknown) => show({ type: 'failed', message: (err as Error).message }));
