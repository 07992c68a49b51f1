import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const at = (...parts: string[]) => join(root, ...parts);

export const serverDir = at('server');
/** The binary `./lab run-app` runs and `./lab run-tracer` traces by default. */
export const serverBinary = at('server', 'server');
export const defaultServerAddr = '127.0.0.1:8091';
