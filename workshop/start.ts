import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { isAbsolute, relative } from 'node:path';
import { at, root } from '../core/paths.ts';
import { loadAgenda, type Agenda } from './agenda.ts';
import { markerVar } from './processes.ts';
import { livePreflight } from './preflight.ts';
import { JupyterRunner, RehearsalRunner, type RoomRunner } from './runners.ts';
import { WorkshopServer } from './server.ts';

export const defaultAgenda = at('workshop', 'agenda.json');

export interface StartWorkshopOptions {
  agendaPath?: string;
  /** Overrides the agenda's notebook directory (tests use their own notebooks). */
  notebooksDir?: string;
  rehearsal?: boolean;
  host?: string;
  port?: number;
  /** Start the site too (default true); tests of the workshop alone pass false. */
  site?: boolean;
  log?: (line: string) => void;
}

export interface RunningWorkshop extends AsyncDisposable {
  server: WorkshopServer;
  agenda: Agenda;
  mode: 'live' | 'rehearsal';
  rehearsalReason?: string;
  jupyter?: { url: string; token: string };
  /** Set once the site is served (see siteReady). */
  readonly siteUrl?: string;
  /** Settles when the site is served or has failed (never rejects). */
  siteReady: Promise<void>;
  marker: string;
  stop(): Promise<void>;
}

/** The id every process started from here inherits (LAB_WORKSHOP_ID), so reset can find them even re-parented. */
export function workshopMarker(): string {
  return (process.env[markerVar] ??= `ws-${process.pid}-${randomBytes(6).toString('hex')}`);
}

/**
 * Starts workshop/watchdog.ts on a pipe from this process: if this process dies without stopping what
 * it started (SIGKILL, a crash), the watchdog kills every process carrying the marker. In its own
 * process group (Ctrl-C is for the workshop), without the marker itself.
 */
function startWatchdog(marker: string): () => Promise<void> {
  const env = { ...process.env };
  delete env[markerVar];
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', at('workshop', 'watchdog.ts'), marker, String(process.pid)],
    {
      cwd: root,
      env,
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
    },
  );
  child.on('error', () => undefined);
  child.stdin!.on('error', () => undefined);
  child.unref();
  (child.stdin as unknown as { unref(): void }).unref();
  return async () => {
    child.kill('SIGTERM');
  };
}

/**
 * Builds the site if it is stale and serves it (engines/services/site.ts). Never hands it the Jupyter: the
 * site would proxy it, and attendees load its pages (the room reaches the kernel through the workshop server).
 */
async function startSite(host: string, log: (line: string) => void): Promise<{ url: string; stop(): Promise<void> }> {
  const site = await import('../engines/services/site.ts');
  const stale = await site.siteStale();
  if (stale === 'no build yet') {
    log('building the site (no build yet); the views show the page names until it is served…');
    await site.buildSite();
  } else if (stale) {
    // Rebuilding here would rewrite build/ under anyone serving it, and an interrupted build leaves it half-written.
    log(`serving the existing site build (${stale}); ./lab build site refreshes it`);
  }
  return site.siteServe({ port: 0, host });
}

export async function startWorkshop(opts: StartWorkshopOptions = {}): Promise<RunningWorkshop> {
  const log = opts.log ?? (() => undefined);
  const marker = workshopMarker();
  const agenda = loadAgenda(opts.agendaPath ?? defaultAgenda, { notebooksDir: opts.notebooksDir });
  const cleanups: (() => Promise<void>)[] = [startWatchdog(marker)];
  const stopAll = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    cleanups.length = 0;
  };
  try {
    let runner: RoomRunner | undefined;
    let rehearsalReason: string | undefined;
    let jupyter: { url: string; token: string } | undefined;
    if (opts.rehearsal) rehearsalReason = 'started with --rehearsal';
    else {
      const problems = await livePreflight();
      if (problems.length) rehearsalReason = `preflight failed: ${problems.join('; ')}`;
    }
    if (!rehearsalReason) {
      try {
        const { startJupyter } = await import('../engines/services/jupyter.ts');
        log('starting Jupyter (tslab kernel)…');
        const j = await startJupyter();
        cleanups.push(() => j.stop());
        jupyter = { url: j.url, token: j.token };
        // The kernel runs where the notebooks live, as it would in JupyterLab (their requires are relative).
        const cwd = relative(root, agenda.notebooksDir);
        runner = await JupyterRunner.start(j, { cwd: cwd.startsWith('..') || isAbsolute(cwd) ? undefined : cwd });
      } catch (e) {
        rehearsalReason = `Jupyter did not start: ${(e as Error).message.split('\n')[0]}`;
      }
    }
    runner ??= new RehearsalRunner();
    const r = runner;
    cleanups.push(() => r.dispose());

    const siteProblem =
      opts.site === false ? 'not started (--without-site)' : 'starting (the first build takes a few minutes)…';
    const server = await WorkshopServer.start({
      agenda,
      runner,
      marker,
      host: opts.host,
      port: opts.port,
      siteProblem,
      rehearsalReason,
      log,
    });
    cleanups.push(() => server.close());

    // The site comes up in the background: the room can connect while it builds.
    let siteUrl: string | undefined;
    let stopped = false;
    const siteReady =
      opts.site === false
        ? Promise.resolve()
        : startSite(opts.host ?? '127.0.0.1', log).then(
            async (site) => {
              if (stopped) return site.stop();
              cleanups.push(() => site.stop());
              siteUrl = site.url;
              server.setSite(site.url);
              log(`site: ${site.url}`);
            },
            (e: Error) => {
              const problem = `the site did not start: ${e.message.split('\n')[0]}`;
              server.setSite(undefined, problem);
              log(problem);
            },
          );
    const stop = async () => {
      stopped = true;
      await stopAll();
    };
    return {
      server,
      agenda,
      mode: runner.mode,
      rehearsalReason,
      jupyter,
      get siteUrl() {
        return siteUrl;
      },
      siteReady,
      marker,
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}
