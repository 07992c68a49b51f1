import { copyFile, mkdir, rename, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './proc.ts';
import { at, serverBinary, serverDir } from './paths.ts';
import { newestMtime } from './files.ts';
import { LabError } from './errors.ts';

/** A Go toolchain: how to invoke it and which version it is. */
export interface GoToolchain {
  go: string;
  env: Record<string, string>;
  version: string; // e.g. go1.26.8
}

export const oldGo = '/usr/lib/go-1.19/bin/go';
/** The one newer Go the module proxy may be asked for. */
export const newerGoToolchain = 'go1.27.3';

export async function goToolchain(go = 'go', env: Record<string, string> = {}): Promise<GoToolchain> {
  const version = (
    await run(go, ['env', 'GOVERSION'], {
      capture: true,
      env: { ...process.env, ...env },
      fix: `no Go at ${go}: install Go (./lab setup) or pass --go=/path/to/go`,
    })
  ).trim();
  return { go, env, version };
}

/** Every toolchain the lab can build the server with on this machine. */
export async function availableToolchains(opts: { fetchNewer?: boolean } = {}): Promise<GoToolchain[]> {
  const found = [await goToolchain()];
  if (existsSync(oldGo)) found.push(await goToolchain(oldGo));
  if (opts.fetchNewer) found.push(await goToolchain('go', { GOTOOLCHAIN: newerGoToolchain }));
  const seen = new Set<string>();
  return found.filter((t) => !seen.has(t.version) && seen.add(t.version));
}

/** Builds server/ with a toolchain into server/bin/<version>/server, skipping when up to date. */
export async function buildServer(tc: GoToolchain): Promise<string> {
  const out = join(serverDir, 'bin', tc.version, 'server');
  const srcTime = await newestMtime([serverDir], (p) => p.endsWith('.go') || p.endsWith('go.mod'));
  if (existsSync(out) && (await stat(out)).mtimeMs >= srcTime) return out;
  await mkdir(join(serverDir, 'bin', tc.version), { recursive: true });
  await run(tc.go, ['build', '-o', out, '.'], {
    cwd: serverDir,
    env: { ...process.env, CGO_ENABLED: '0', ...tc.env },
    fix: 'fix the Go compile error shown above',
  });
  return out;
}

/** Builds the server and makes it the default binary (server/server). */
export async function buildDefaultServer(go?: string): Promise<string> {
  const tc = await goToolchain(go);
  const built = await buildServer(tc);
  if (!existsSync(serverBinary) || (await stat(serverBinary)).mtimeMs < (await stat(built)).mtimeMs || go) {
    // A new file renamed over the old one: a running server keeps its inode, so no ETXTBSY.
    await copyFile(built, `${serverBinary}.tmp`);
    await rename(`${serverBinary}.tmp`, serverBinary);
  }
  return serverBinary;
}

/** The compiler's inlining decisions for the server (`go build -gcflags=-m`). */
export async function inliningReport(tc?: GoToolchain): Promise<string> {
  const t = tc ?? (await goToolchain());
  try {
    // The compiler prints its -m decisions on stderr; run() captures stdout, so merge them.
    return await run('sh', ['-c', '"$0" build -gcflags=-m -o /dev/null . 2>&1', t.go], {
      cwd: serverDir,
      capture: true,
      env: { ...process.env, ...t.env },
    });
  } catch (e) {
    throw new LabError('go build -gcflags=-m failed', 'run ./lab build to see the compile error', { cause: e });
  }
}

export const serverSources = at('server');
