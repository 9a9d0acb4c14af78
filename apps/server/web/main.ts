/**
 * The demo page: a chat in a `@tidewire/room` room over the WebSocket
 * transport, with each member's round-trip time. Open it twice: the second
 * page joins the room named in the first one's address (#room=...).
 */
import { connect, type TidewireClient } from '@tidewire/client';
import { packBytes as pack, unpackBytes as unpack } from '@tidewire/wire/portable';

const ROOM_VER = 1;
const Cmd = { Create: 100, Join: 101, Broadcast: 103 } as const;
const Event = { Message: 110, Joined: 111, Left: 112 } as const;
/** What each member broadcasts: a chat line, or its measured RTT. */
type Note = { kind: 'say'; text: string } | { kind: 'rtt'; ms: number };

const $ = (id: string): HTMLElement => document.getElementById(id)!;
const rtts = new Map<string, number>();
const encoder = new TextEncoder();
const decoder = new TextDecoder();

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

async function call(
  client: TidewireClient,
  cmd: number,
  body: unknown,
): Promise<Record<string, unknown>> {
  const answer = await client.request(ROOM_VER, cmd, pack(body));
  const value = unpack(answer.payload) as Record<string, unknown>;
  if (!answer.ok) throw new Error(String(value.message ?? value.code ?? 'refused'));
  return value;
}

async function main(): Promise<void> {
  const params = new URLSearchParams(location.hash.slice(1));
  const uid = params.get('user') ?? `guest-${Math.random().toString(36).slice(2, 7)}`;
  const client = await connect({ uid, transport: 'ws', keepAliveIntervalMs: 1000 });
  $('status').textContent = `connected as ${uid}`;
  let roomId = params.get('room');
  const room =
    roomId === null
      ? await call(client, Cmd.Create, { maxMembers: 16 })
      : await call(client, Cmd.Join, { roomId });
  roomId = String(room.roomId);
  params.set('room', roomId);
  history.replaceState(null, '', `#${params}`);
  const link = new URL(location.href);
  link.hash = `room=${roomId}`;
  $('share').textContent = `Invite: ${link}`;
  for (const member of room.members as string[]) rtts.set(member, rtts.get(member) ?? 0);
  renderMembers();
  line(`joined room ${roomId}`);
  document.body.dataset.room = roomId;

  const broadcast = (note: Note): Promise<unknown> =>
    call(client, Cmd.Broadcast, { roomId, data: encoder.encode(JSON.stringify(note)) });

  client.on('push', ({ ver, cmd, payload }) => {
    if (ver !== ROOM_VER) return;
    const body = unpack(payload) as { userId?: string; from?: string | null; data?: Uint8Array };
    if (cmd === Event.Joined && body.userId !== undefined) {
      rtts.set(body.userId, 0);
      line(`${body.userId} joined`);
      renderMembers();
      void broadcast({ kind: 'rtt', ms: client.latency });
    } else if (cmd === Event.Left && body.userId !== undefined) {
      rtts.delete(body.userId);
      line(`${body.userId} left`);
      renderMembers();
    } else if (cmd === Event.Message && body.data !== undefined) {
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
  setInterval(() => {
    rtts.set(uid, client.latency);
    renderMembers();
    void broadcast({ kind: 'rtt', ms: client.latency });
  }, 1000);

  $('say').addEventListener('submit', (event) => {
    event.preventDefault();
    const input = $('text') as HTMLInputElement;
    const text = input.value.trim();
    if (text === '') return;
    input.value = '';
    line(text, uid);
    void broadcast({ kind: 'say', text });
  });
  client.on('close', (info) => {
    $('status').textContent = `disconnected (${info.code})`;
  });
}

main().catch((err: unknown) => {
  $('status').textContent = `error: ${(err as Error).message}`;
});
