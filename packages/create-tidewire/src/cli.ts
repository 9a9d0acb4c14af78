#!/usr/bin/env node
import { spawn } from 'node:child_process';
import { relative } from 'node:path';
import { createProject } from './create.ts';
import { CreateError } from './errors.ts';
import { HTTP_PORT } from './files.ts';
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
        project.files.map((file) => `  ${file}\n`).join(''),
    );
    const installed = options.install && (await npmInstall(project.targetDir));
    process.stdout.write(
      `\nNext:\n  cd ${where}\n${installed ? '' : '  npm install\n'}  npm start     # ${options.transport === 'ws' ? `the server and its page: http://127.0.0.1:${HTTP_PORT}/` : 'the server'}\n  npm test      # its test\n`,
    );
    if (options.install && !installed) process.exitCode = 1;
  }
} catch (err) {
  if (err instanceof CreateError) {
    process.stderr.write(`create-tidewire: ${err.message} (${err.code})\n\n${USAGE}`);
    process.exitCode = 2;
  } else {
    throw err;
  }
}

/** `npm install` in the new folder, its output shown; false when it failed. */
function npmInstall(dir: string): Promise<boolean> {
  process.stdout.write('\nnpm install\n');
  return new Promise((resolve) => {
    const child = spawn('npm', ['install', '--no-audit', '--no-fund'], {
      cwd: dir,
      stdio: 'inherit',
      shell: process.platform === 'win32',
    });
    child.once('error', (err) => {
      process.stderr.write(`create-tidewire: npm install could not start: ${err.message}\n`);
      resolve(false);
    });
    child.once('close', (code) => {
      if (code !== 0)
        process.stderr.write(
          `create-tidewire: npm install failed (${code}); run it again in the folder\n`,
        );
      resolve(code === 0);
    });
  });
}
