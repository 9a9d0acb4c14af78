/**
 * bench/router: dispatch of commands through a CommandRouter (per-user serial
 * queue, a chain of one synchronous echo handler) against two baselines in the
 * same run: a plain Map lookup and direct call of the same handler (the floor:
 * no ordering, no error handling; the JIT inlines it), and the usual hand-made
 * serial queue, a promise chain per user. The ratios show the cost of ordering,
 * chains and error handling.
 *
 *   node scripts/bench.mjs router
 */

import { CommandRouter, type Next } from '@tidewire/command-router';
import { Bench } from 'tinybench';
import { printGoals } from '../shared/goal.ts';
import { median } from '../shared/stats.ts';

const time = Number(process.env.BENCH_TIME_MS ?? 500);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const USERS = 1000;

class BenchUser {
  responsesSent = 0;
  constructor(readonly id: string) {}
  sendResponse(_ver: number, _cmd: number, _status: number, payload: Uint8Array): void {
    this.responsesSent += payload.length > 0 ? 1 : 0;
  }
}

const users = Array.from({ length: USERS }, (_, i) => new BenchUser(`user-${i}`));
const payload = Buffer.from('0123456789abcdef');

// The same handler for both: answers with the payload (an echo) and calls next.
const echo = (ver: number, cmd: number, p: Buffer, user: BenchUser, next: Next): void => {
  user.sendResponse(ver, cmd, 1, p);
  next();
};
const noopNext: Next = () => {};

const router = new CommandRouter<BenchUser>();
router.handleCommand(2, 1, echo);
const table = new Map<number, typeof echo>([[2 * 0x10000 + 1, echo]]);
const chains = new Map<BenchUser, Promise<void>>();

const tasks: Record<string, () => void | Promise<void>> = {
  'Map lookup + direct call': () => {
    for (const user of users) {
      const handler = table.get(2 * 0x10000 + 1);
      handler?.(2, 1, payload, user, noopNext);
    }
  },
  // Awaits its own promises, so the time of the callbacks is counted.
  'promise chain per user': async () => {
    for (const user of users) {
      const previous = chains.get(user) ?? Promise.resolve();
      chains.set(
        user,
        previous.then(
          () =>
            new Promise<void>((resolve, reject) => {
              const handler = table.get(2 * 0x10000 + 1);
              handler?.(2, 1, payload, user, (err) => (err == null ? resolve() : reject(err)));
            }),
        ),
      );
    }
    await chains.get(users[USERS - 1]!);
  },
  'CommandRouter.dispatch': () => {
    for (const user of users) router.dispatch(user, 2, 1, payload);
  },
};

const samples = new Map<string, number[]>();
for (let round = 0; round < ROUNDS; round++) {
  const names = Object.keys(tasks);
  if (round % 2 === 1) names.reverse();
  const bench = new Bench({ time, warmup: true, warmupTime: 100 });
  for (const name of names) bench.add(name, tasks[name]!);
  await bench.run();
  await Promise.all(chains.values());
  for (const name of names) {
    const result = bench.getTask(name)?.result;
    if (!result || !('throughput' in result)) throw new Error(`no result for ${name}`);
    samples.set(name, [...(samples.get(name) ?? []), result.throughput.mean * USERS]);
  }
}
router.close();
const answered = users.reduce((sum, u) => sum + u.responsesSent, 0);
if (answered === 0) throw new Error('benchmark produced nothing');

const direct = median(samples.get('Map lookup + direct call')!);
const promises = median(samples.get('promise chain per user')!);
const ours = median(samples.get('CommandRouter.dispatch')!);
console.log(
  `router bench (node ${process.version}, ${USERS} users, median of ${ROUNDS} rounds of ${time} ms)`,
);
console.table([
  {
    task: 'Map lookup + direct call',
    'commands/s': Math.round(direct),
    'ns/command': (1e9 / direct).toFixed(1),
  },
  {
    task: 'promise chain per user',
    'commands/s': Math.round(promises),
    'ns/command': (1e9 / promises).toFixed(1),
  },
  {
    task: 'CommandRouter.dispatch',
    'commands/s': Math.round(ours),
    'ns/command': (1e9 / ours).toFixed(1),
  },
]);
console.log(`ratio router / promise chain per user: ${(ours / promises).toFixed(2)}x`);
console.log(
  `ratio router / direct call: ${(ours / direct).toFixed(3)}x (router overhead ${(1e9 / ours - 1e9 / direct).toFixed(0)} ns per command)`,
);
printGoals('router', []);
