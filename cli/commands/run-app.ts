import { spawn } from 'node:child_process';
import { parse, type Command } from '../command.ts';
import { buildAll } from '../build.ts';
import { defaultServerAddr, serverBinary } from '../../core/paths.ts';

export const runAppCommand: Command = {
  name: 'run-app',
  summary: 'build and run the Go server on 127.0.0.1:8091 in the foreground',
  usage: './lab run-app [--addr=127.0.0.1:8091] [--go=/path/to/go]',
  async run(argv) {
    const { values } = parse('run-app', argv, { flags: { addr: { type: 'string' }, go: { type: 'program' } } });
    await buildAll({ go: values.go }, ['server']);
    const child = spawn(serverBinary, ['-addr', values.addr ?? defaultServerAddr], { stdio: 'inherit' });
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => child.kill(sig));
    return new Promise<number>((resolve) =>
      child.on('exit', (code, signal) => {
        if (signal) console.error(`[lab] server stopped by ${signal}`);
        else if (code) console.error(`[lab] server exited with code ${code}`);
        resolve(code ?? 0);
      }),
    );
  },
};
