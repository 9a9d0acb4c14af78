#!/usr/bin/env node
// Part of `pnpm lint`: the deployment files parse and keep their invariants.
// (No container runtime or cluster here: this is the check that can run.)
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const problems = [];
const production = JSON.parse(
  readFileSync(join(root, 'apps/server/config/production.json'), 'utf8'),
);

for (const file of readdirSync(join(root, 'deploy/k8s')).filter((f) => f.endsWith('.yaml'))) {
  const path = join('deploy/k8s', file);
  const docs = parseAllDocuments(readFileSync(join(root, path), 'utf8'));
  for (const doc of docs) {
    if (doc.errors.length > 0) {
      problems.push(`${path}: ${doc.errors.map((e) => e.message).join('; ')}`);
      continue;
    }
    const object = doc.toJS();
    for (const key of ['apiVersion', 'kind']) {
      if (typeof object?.[key] !== 'string') problems.push(`${path}: a document has no ${key}`);
    }
    if (typeof object?.metadata?.name !== 'string')
      problems.push(`${path}: ${object?.kind} has no metadata.name`);
    const pod = object?.spec?.template?.spec;
    if (object?.kind === 'Deployment' && pod !== undefined) {
      for (const container of pod.containers ?? []) {
        if (!container.readinessProbe)
          problems.push(`${path}: container ${container.name} has no readinessProbe`);
      }
      const args = pod.containers?.[0]?.args ?? [];
      if (
        args.includes('tcp') &&
        !(pod.terminationGracePeriodSeconds > production.shutdownTimeout)
      ) {
        problems.push(
          `${path}: terminationGracePeriodSeconds must exceed shutdownTimeout (${production.shutdownTimeout} s in production.json)`,
        );
      }
    }
  }
}
const dockerfile = readFileSync(join(root, 'deploy/Dockerfile'), 'utf8');
if (!/^USER (?!root)\S+/m.test(dockerfile))
  problems.push('deploy/Dockerfile: the runtime stage must not run as root');
if ((dockerfile.match(/^FROM /gm) ?? []).length < 2)
  problems.push('deploy/Dockerfile: expected a multi-stage build');

if (problems.length > 0) {
  for (const problem of problems) console.error(problem);
  process.exit(1);
}
console.log('deploy: ok');
