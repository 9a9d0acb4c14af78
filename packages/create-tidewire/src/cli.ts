#!/usr/bin/env node
import { relative } from 'node:path';
import { createProject } from './create.ts';
import { CreateError } from './errors.ts';
import { parseCreateArgs, USAGE } from './options.ts';

try {
  const options = parseCreateArgs(process.argv.slice(2), process.env);
  if (options === null) {
    process.stdout.write(USAGE);
  } else {
    const project = await createProject(options);
    const where = relative(process.cwd(), project.targetDir) || '.';
    process.stdout.write(
      `Created ${options.name} in ${where} (${options.transport}${options.redis ? ', Redis cluster' : ''}):\n` +
        project.files.map((file) => `  ${file}\n`).join('') +
        `\nNext:\n  cd ${where}\n  npm install\n  npm start     # the server\n  npm test      # its test\n`,
    );
  }
} catch (err) {
  if (err instanceof CreateError) {
    process.stderr.write(`create-tidewire: ${err.message} (${err.code})\n\n${USAGE}`);
    process.exitCode = 2;
  } else {
    throw err;
  }
}
