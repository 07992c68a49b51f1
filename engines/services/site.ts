/**
 * The tutorial site: the incremental Docusaurus build (a `buildTargets` entry) and siteServe(),
 * which serves the built site on loopback and tells it where the Jupyter server is.
 */
import { spawn } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { at, root } from '../../core/paths.ts';
import { LabError } from '../../core/errors.ts';
import { newestMtime } from '../../core/files.ts';
import { say } from '../../core/ui.ts';

export const siteBuildDir = at('build');
const docusaurusBin = at('node_modules', '@docusaurus', 'core', 'bin', 'docusaurus.mjs');
/** Written after a successful build; its mtime is the build's. */
const stampFile = join(siteBuildDir, '.lab-site-built');
/** Where the pages learn about Jupyter (fetched at runtime by the live-cell client); siteServe writes its own copy. */
export const labConfigFile = join(siteBuildDir, 'lab-config.json');
const lockDir = at('.lab', 'site-build.lock');

/** Everything the site is built from. */
function siteInputs(): { paths: string[]; include: (p: string) => boolean } {
  return {
    paths: [
      at('docs'),
      at('src'),
      at('static'),
      at('notebooks'),
      at('docusaurus.config.ts'),
      at('sidebars.ts'),
      at('bench', 'results.json'),
      at('package-lock.json'),
    ],
    include: (p) =>
      !p.includes('.ipynb_checkpoints') &&
      !p.endsWith('lab-config.json') &&
      (!p.startsWith(at('notebooks')) || p.endsWith('.ipynb')),
  };
}

/** Why the site must be rebuilt, or null when build/ is newer than every input. */
export async function siteStale(): Promise<string | null> {
  if (!existsSync(join(siteBuildDir, 'index.html')) || !existsSync(stampFile)) return 'no build yet';
  const { paths, include } = siteInputs();
  const newest = await newestMtime(paths, include);
  return newest > statSync(stampFile).mtimeMs ? 'sources changed since the last build' : null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One site build at a time on this machine: several ./lab commands may run concurrently. */
async function withBuildLock<T>(work: () => Promise<T>): Promise<T> {
  mkdirSync(at('.lab'), { recursive: true });
  for (;;) {
    try {
      mkdirSync(lockDir);
      writeFileSync(join(lockDir, 'pid'), String(process.pid));
      break;
    } catch {
      const holder = Number(readFileSync(join(lockDir, 'pid'), 'utf8').trim() || 0);
      let alive = false;
      try {
        if (holder) process.kill(holder, 0);
        alive = holder > 0;
      } catch {
        alive = false;
      }
      if (!alive) rmSync(lockDir, { recursive: true, force: true });
      else await sleep(1000);
    }
  }
  try {
    return await work();
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

/** `docusaurus build` into build/ when an input changed; prints the production build time. */
export async function buildSite(opts: { force?: boolean } = {}): Promise<void> {
  await withBuildLock(async () => {
    const reason = opts.force ? 'forced' : await siteStale();
    if (!reason) {
      say('  site is up to date (build/ is newer than docs/, src/, notebooks/, docs/data/)');
      return;
    }
    say(`  building the site: ${reason}`);
    const started = Date.now();
    let output = '';
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(process.execPath, [docusaurusBin, 'build', '--out-dir', siteBuildDir], {
        cwd: root,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, NODE_ENV: 'production', DOCUSAURUS_TELEMETRY_DISABLED: '1' },
      });
      child.stdout.on('data', (d) => (output += d));
      child.stderr.on('data', (d) => (output += d));
      child.once('error', (e) => reject(new LabError(`cannot run docusaurus: ${e.message}`, 'reinstall npm dependencies (rm -rf node_modules; ./lab setup)')));
      child.once('close', resolve);
    });
    if (code !== 0) {
      const tail = output.trim().split('\n').filter((l) => !l.startsWith('npm warn')).slice(-25).join('\n');
      throw new LabError(`the site build failed (docusaurus build exit ${code}):\n${tail}\n`, 'fix the page or component named above, then ./lab build site');
    }
    // The stamp carries the build's start time: a source edited during the build is newer than it.
    writeFileSync(stampFile, new Date(started).toISOString() + '\n');
    utimesSync(stampFile, new Date(started), new Date(started));
    say(`  docusaurus production build: ${((Date.now() - started) / 1000).toFixed(1)} s → build/`);
  });
}

/**
 * Tells a served site which Jupyter server the notebook pages run cells on (null: none). Always
 * written: a missing file would be a 404 in every notebook page's console.
 */
export function writeLabConfig(jupyter: { url: string; token: string } | null, file = labConfigFile): void {
  writeFileSync(file, JSON.stringify({ jupyter }, null, 2) + '\n');
  chmodSync(file, 0o600); // it holds the Jupyter token
}

export interface SiteServeOptions {
  /** 0 or absent: a free port. */
  port?: number;
  /** Defaults to 127.0.0.1. */
  host?: string;
  /** The Jupyter server the notebook pages run cells on (written to build/lab-config.json). */
  jupyter?: { url: string; token: string };
}

export interface ServedSite extends AsyncDisposable {
  url: string;
  port: number;
  pid: number;
  /** The snapshot of build/ being served. */
  dir: string;
  stop(): Promise<void>;
}

/**
 * A private copy of build/, taken under the build lock: a rebuild by another ./lab command (which
 * empties build/ first) never breaks a running site, and each served copy has its own lab-config.json.
 */
async function snapshotBuild(): Promise<string> {
  return withBuildLock(async () => {
    if (!existsSync(join(siteBuildDir, 'index.html'))) {
      throw new LabError('the site is not built (no build/index.html)', 'run ./lab build site');
    }
    mkdirSync(at('.lab'), { recursive: true });
    const dir = mkdtempSync(join(at('.lab'), 'site-'));
    cpSync(siteBuildDir, dir, { recursive: true });
    return dir;
  });
}

async function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Whether `url` answers with a 2xx within 2 s. */
export async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

/**
 * Serves the built site (`docusaurus serve`) and resolves once it answers. With `jupyter`, the
 * notebook pages' Run buttons use that server; without, build/lab-config.json says there is none,
 * so no stale token from an earlier run is offered.
 */
export async function siteServe(opts: SiteServeOptions = {}): Promise<ServedSite> {
  const dir = await snapshotBuild();
  const configFile = join(dir, 'lab-config.json');
  writeLabConfig(opts.jupyter ?? null, configFile);

  const host = opts.host ?? '127.0.0.1';
  const port = opts.port || (await freePort(host));
  const child = spawn(
    process.execPath,
    [docusaurusBin, 'serve', '--dir', dir, '--host', host, '--port', String(port), '--no-open'],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DOCUSAURUS_TELEMETRY_DISABLED: '1' } },
  );
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/`;
  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exit;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true }); // with the token in its lab-config.json
  };
  const deadline = Date.now() + 60_000;
  while (!(await answers(url))) {
    if (exited || Date.now() > deadline) {
      await stop();
      const why = log.trim().split('\n').slice(-3).join(' | ');
      throw new LabError(`the site server did not start on ${url}${why ? `: ${why}` : ''}`, `is port ${port} taken? pass another or leave it out`);
    }
    await sleep(200);
  }
  live.set(stop, { kill: () => child.kill('SIGKILL'), dir });
  const stopAndForget = () => stop().finally(() => live.delete(stop));
  return { url, port, pid: child.pid!, dir, stop: stopAndForget, [Symbol.asyncDispose]: stopAndForget };
}

const live = new Map<() => Promise<void>, { kill(): void; dir: string }>();
process.once('exit', () => {
  // Synchronous last rites: kill the servers, remove their snapshots.
  for (const { kill, dir } of live.values()) {
    kill();
    rmSync(dir, { recursive: true, force: true });
  }
});
