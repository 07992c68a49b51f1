import { chmod, copyFile, mkdir, rename, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
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

const isGoSource = (p: string) => p.endsWith('.go') || p.endsWith('go.mod') || p.endsWith('go.sum');

export interface GoBuild {
  /** The module's directory (go build runs there). */
  dir: string;
  /** The binary to write. */
  out: string;
  /** What to tell the user when the build fails. */
  fix: string;
  toolchain?: GoToolchain;
  /** More environment (CGO_ENABLED=0 always). */
  env?: Record<string, string>;
  /** Which files under dir count as its sources (default: .go files, go.mod, go.sum). */
  isSource?: (path: string) => boolean;
}

/** Builds a Go program (CGO off) when a source is newer than its binary, or the binary is missing; returns it. */
export async function buildGoProgram(b: GoBuild): Promise<string> {
  const built = existsSync(b.out) ? (await stat(b.out)).mtimeMs : 0;
  if (built >= (await newestMtime([b.dir], b.isSource ?? isGoSource))) return b.out;
  const created = await mkdir(dirname(b.out), { recursive: true });
  await run(b.toolchain?.go ?? 'go', ['build', '-o', b.out, '.'], {
    cwd: b.dir,
    env: { ...process.env, CGO_ENABLED: '0', ...b.toolchain?.env, ...b.env },
    fix: b.fix,
  });
  // Attendees run and probe these binaries: readable whatever the builder's umask (a notebook kernel's is 077).
  for (let d = dirname(b.out); created && d.startsWith(created); d = dirname(d)) await chmod(d, 0o755);
  await chmod(b.out, 0o755);
  return b.out;
}

/** Builds server/ with a toolchain into server/bin/<version>/server, skipping when up to date. */
export const buildServer = (tc: GoToolchain): Promise<string> =>
  buildGoProgram({
    dir: serverDir,
    out: join(serverDir, 'bin', tc.version, 'server'),
    toolchain: tc,
    fix: 'fix the Go compile error shown above',
  });

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
