/**
 * The tutorial site: the incremental Docusaurus build (a `buildTargets` entry) and siteServe(),
 * which serves the built site on loopback and proxies the lab's Jupyter for the live cells.
 */
import { spawn } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  utimesSync,
} from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { at, root } from '../../core/paths.ts';
import { LabError } from '../../core/errors.ts';
import { newestMtime, writeFileAtomicSync } from '../../core/files.ts';
import { say } from '../../core/ui.ts';
import { withLock } from '../../core/lock.ts';
import { startSiteServer, type SiteServer } from './site-server.ts';

export const siteBuildDir = at('build');
const docusaurusBin = at('node_modules', '@docusaurus', 'core', 'bin', 'docusaurus.mjs');
/** Written after a successful build; its mtime is the build's. */
const stampFile = join(siteBuildDir, '.lab-site-built');

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
      // The BPF page shows these sources, imported when the site is built.
      at('bpf', 'entry.bpf.c'),
      at('bpf', 'ret.bpf.c'),
      at('bpf', 'maps.h'),
      at('bench', 'results.json'),
      at('package-lock.json'),
    ],
    include: (p) => !p.includes('.ipynb_checkpoints') && (!p.startsWith(at('notebooks')) || p.endsWith('.ipynb')),
  };
}

/** Why the site must be rebuilt, or null when build/ is newer than every input. */
export async function siteStale(): Promise<string | null> {
  if (!existsSync(join(siteBuildDir, 'index.html')) || !existsSync(stampFile)) return 'no build yet';
  const { paths, include } = siteInputs();
  const newest = await newestMtime(paths, include);
  return newest > statSync(stampFile).mtimeMs ? 'sources changed since the last build' : null;
}

/**
 * One site build at a time on this machine (several ./lab commands may run at once): build/, the
 * snapshots taken of it and Docusaurus's caches (.docusaurus, node_modules/.cache, which the bench's
 * cold build removes) change only under it.
 */
export const withSiteBuildLock = <T>(work: () => Promise<T>): Promise<T> => withLock('site-build', 'site build', work);

/** `docusaurus build` into build/ when an input changed; prints the production build time. */
export async function buildSite(opts: { force?: boolean } = {}): Promise<void> {
  await withSiteBuildLock(async () => {
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
      child.once('error', (e) =>
        reject(
          new LabError(
            `cannot run docusaurus: ${e.message}`,
            'reinstall npm dependencies (rm -rf node_modules; ./lab setup)',
          ),
        ),
      );
      child.once('close', resolve);
    });
    if (code !== 0) {
      const tail = output
        .trim()
        .split('\n')
        .filter((l) => !l.startsWith('npm warn'))
        .slice(-25)
        .join('\n');
      throw new LabError(
        `the site build failed (docusaurus build exit ${code}):\n${tail}\n`,
        'fix the page or component named above, then ./lab build site',
      );
    }
    // The stamp carries the build's start time: a source edited during the build is newer than it.
    writeFileAtomicSync(stampFile, new Date(started).toISOString() + '\n');
    utimesSync(stampFile, new Date(started), new Date(started));
    say(`  docusaurus production build: ${((Date.now() - started) / 1000).toFixed(1)} s → build/`);
  });
}

export interface SiteServeOptions {
  /** 0 or absent: a free port. */
  port?: number;
  /** Defaults to 127.0.0.1. */
  host?: string;
  /** The Jupyter server the notebook pages run cells on, proxied under its base path (the token stays here). */
  jupyter?: { url: string; token: string };
  /** With `jupyter`: answer `./lab open` (a new link, revoke) on a root-only socket under .lab/access/. */
  control?: boolean;
}

export interface ServedSite extends AsyncDisposable {
  url: string;
  port: number;
  /** With `jupyter`: the one-time link that lets a browser use it (print it to the user's terminal only). */
  grantUrl: string | null;
  /** The snapshot of build/ being served. */
  dir: string;
  /** With `jupyter`: another one-time link. */
  newGrantUrl(): string;
  /** Refuses every browser let in so far; how many there were. */
  revoke(): number;
  stop(): Promise<void>;
}

/**
 * A private copy of build/, taken under the build lock: a rebuild by another ./lab command (which
 * empties build/ first) never breaks a running site.
 */
async function snapshotBuild(): Promise<string> {
  return withSiteBuildLock(async () => {
    if (!existsSync(join(siteBuildDir, 'index.html'))) {
      throw new LabError('the site is not built (no build/index.html)', 'run ./lab build site');
    }
    mkdirSync(at('.lab'), { recursive: true });
    const dir = mkdtempSync(join(at('.lab'), 'site-'));
    cpSync(siteBuildDir, dir, { recursive: true });
    return dir;
  });
}

const loopback = ['127.0.0.1', 'localhost', '::1'];

/**
 * Serves the built site (engines/services/site-server.ts) in this process. With `jupyter`, the
 * notebook pages' Run buttons use that server through the site's proxy, once the browser has opened
 * grantUrl; /lab-config.json tells the pages where it is (never the token).
 */
export async function siteServe(opts: SiteServeOptions = {}): Promise<ServedSite> {
  const host = opts.host ?? '127.0.0.1';
  if (opts.jupyter && !loopback.includes(host)) {
    throw new LabError(
      `the site proxies Jupyter and must listen on loopback, not ${host}`,
      'leave --host out, or serve the site without Jupyter',
    );
  }
  const dir = await snapshotBuild();
  let site: SiteServer;
  try {
    site = await startSiteServer({ dir, host, port: opts.port ?? 0, jupyter: opts.jupyter });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    const err = e as NodeJS.ErrnoException;
    throw new LabError(
      `the site server did not start on ${host}:${opts.port ?? 0}: ${err.code ?? err.message}`,
      `is port ${opts.port} taken? pass another or leave it out`,
    );
  }
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${site.port}/`;
  const newGrantUrl = () => new URL(site.newGrant(), url).href;
  const revoke = () => site.revoke();
  let control: Server | undefined;
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= Promise.all([
      site.close(),
      new Promise<void>((done) => (control ? control.close(() => done()) : done())),
    ]).then(() => {
      rmSync(dir, { recursive: true, force: true });
      live.delete(dir);
    }));
  live.add(dir);
  if (opts.jupyter && opts.control) {
    try {
      control = await answerOpen(site.port, { newGrantUrl, revoke });
    } catch (e) {
      await stop();
      throw e;
    }
  }
  const grantUrl = site.grantPath ? new URL(site.grantPath, url).href : null;
  return { url, port: site.port, grantUrl, dir, newGrantUrl, revoke, stop, [Symbol.asyncDispose]: stop };
}

/**
 * Where a running site answers `./lab open`: a directory only its owner (root, who ran ./lab start)
 * may enter, one socket per site port. Whoever can connect gets a link that lets a browser run root
 * code, so nothing else guards it.
 */
const accessDir = at('.lab', 'access');
const accessSocket = (port: number) => join(accessDir, `site-${port}.sock`);

type OpenRequest = { ask: 'grant' } | { ask: 'revoke' };
type OpenAnswer = { url: string } | { revoked: number };

function privateAccessDir(): void {
  mkdirSync(accessDir, { recursive: true, mode: 0o700 });
  const st = lstatSync(accessDir);
  if (!st.isDirectory() || st.uid !== process.getuid?.()) {
    throw new LabError(
      `${accessDir} is not a directory of this user's`,
      'remove it (rm -rf .lab/access) and start the lab again',
    );
  }
  chmodSync(accessDir, 0o700);
}

async function answerOpen(port: number, site: { newGrantUrl(): string; revoke(): number }): Promise<Server> {
  privateAccessDir();
  const path = accessSocket(port);
  rmSync(path, { force: true }); // a lab that died on this port left it
  const server = createServer((conn) => {
    let line = '';
    conn.on('error', () => conn.destroy());
    conn.setTimeout(5000, () => conn.destroy());
    conn.on('data', (d) => {
      line += d.toString('utf8');
      if (line.length > 1024) return conn.destroy();
      const end = line.indexOf('\n');
      if (end < 0) return;
      let answer: OpenAnswer | { error: string };
      try {
        const req = JSON.parse(line.slice(0, end)) as OpenRequest | null;
        answer =
          req?.ask === 'grant'
            ? { url: site.newGrantUrl() }
            : req?.ask === 'revoke'
              ? { revoked: site.revoke() }
              : { error: 'unknown request' };
      } catch {
        answer = { error: 'not JSON' };
      }
      conn.end(`${JSON.stringify(answer)}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  chmodSync(path, 0o600);
  return server;
}

/** One request to a running site's socket; null when nothing listens there (a stale socket). */
function askSocket(path: string, req: OpenRequest): Promise<OpenAnswer | null> {
  return new Promise((resolve, reject) => {
    let got = '';
    const conn = connect(path, () => conn.write(`${JSON.stringify(req)}\n`));
    conn.setTimeout(10_000, () => conn.destroy(new Error('no answer within 10 s')));
    conn.on('data', (d) => (got += d.toString('utf8')));
    conn.on('error', (e: NodeJS.ErrnoException) =>
      e.code === 'ECONNREFUSED' || e.code === 'ENOENT' ? resolve(null) : reject(e),
    );
    conn.on('end', () => {
      try {
        const answer = JSON.parse(got) as OpenAnswer | { error: string };
        if ('error' in answer) reject(new Error(answer.error));
        else resolve(answer);
      } catch {
        reject(new Error(`a garbled answer: ${got.slice(0, 80)}`));
      }
    });
  });
}

/**
 * Asks the running lab's site (`./lab start`, in another terminal) for a new one-time link, or to
 * revoke every browser it let in. `port` picks one when several labs run.
 */
export async function askRunningSite(ask: 'grant', port?: number): Promise<{ url: string }>;
export async function askRunningSite(ask: 'revoke', port?: number): Promise<{ revoked: number }>;
export async function askRunningSite(ask: 'grant' | 'revoke', port?: number): Promise<OpenAnswer> {
  let names: string[];
  try {
    names = readdirSync(accessDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EACCES')
      throw new LabError(
        'only the user who ran ./lab start (root) may hand out access to the lab',
        'run ./lab open as root (sudo ./lab open)',
      );
    names = [];
  }
  const ports = names
    .map((n) => /^site-(\d+)\.sock$/.exec(n)?.[1])
    .filter((p): p is string => p !== undefined)
    .map(Number)
    .filter((p) => port === undefined || p === port);
  // Several labs: ask none until it is clear which one is meant (a revoke must not hit the wrong lab).
  const running: number[] = [];
  for (const p of ports) {
    const probe = await new Promise<boolean>((resolve) => {
      const conn = connect(accessSocket(p), () => {
        conn.destroy();
        resolve(true);
      });
      conn.on('error', () => resolve(false));
    });
    if (probe) running.push(p);
    else rmSync(accessSocket(p), { force: true });
  }
  if (running.length === 0)
    throw new LabError(
      port === undefined ? 'no lab is running here' : `no lab's site is running on port ${port}`,
      'start it with ./lab start (it prints the first link; ./lab open gives more while it runs)',
    );
  if (running.length > 1)
    throw new LabError(
      `${running.length} labs are running (site ports ${running.join(', ')})`,
      `say which: ./lab open --site-port=${running[0]}`,
    );
  const answer = await askSocket(accessSocket(running[0]), { ask } as OpenRequest);
  if (!answer) throw new LabError('the running lab stopped while it was asked', 'start it again with ./lab start');
  return answer;
}

const live = new Set<string>();
process.once('exit', () => {
  // Synchronous last rites: the snapshots go (the servers end with the process).
  for (const dir of live) rmSync(dir, { recursive: true, force: true });
});
