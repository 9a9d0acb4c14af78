#!/usr/bin/env node
import { runCli } from './cli.ts';

// SIGINT ends the run early and prints the partial report; a second one exits at once.
const controller = new AbortController();
process.on('SIGINT', () => {
  if (controller.signal.aborted) process.exit(130);
  controller.abort();
});

runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  signal: controller.signal,
}).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`tidewire-loadtest: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
