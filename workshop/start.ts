import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { at } from '../cli/paths.ts';
import { loadAgenda, type Agenda } from './agenda.ts';
import { markerVar } from './processes.ts';
import { livePreflight } from './preflight.ts';
import { JupyterRunner, RehearsalRunner, type CellRunner } from './runners.ts';
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
  siteUrl?: string;
  siteProblem?: string;
  marker: string;
  stop(): Promise<void>;
}

/** The id every process started from here inherits (LAB_WORKSHOP_ID), so reset can find them even re-parented. */
export function workshopMarker(): string {
  return (process.env[markerVar] ??= `ws-${process.pid}-${randomBytes(6).toString('hex')}`);
}

interface SiteHandle {
  url: string;
  stop?: () => Promise<void> | void;
  close?: () => Promise<void> | void;
}

/** The site engineer's siteServe() from cli/site.ts, when it exists. */
async function startSite(host: string): Promise<{ site?: SiteHandle; problem?: string }> {
  const path = at('cli', 'site.ts');
  if (!existsSync(path)) return { problem: 'cli/site.ts (siteServe) does not exist yet in this checkout' };
  try {
    const mod = (await import(path)) as { siteServe?: (o: { port?: number; host?: string }) => Promise<SiteHandle> };
    if (typeof mod.siteServe !== 'function') return { problem: 'cli/site.ts exports no siteServe()' };
    const site = await mod.siteServe({ port: 0, host });
    return { site };
  } catch (e) {
    return { problem: `the site did not start: ${(e as Error).message.split('\n')[0]}` };
  }
}

export async function startWorkshop(opts: StartWorkshopOptions = {}): Promise<RunningWorkshop> {
  const log = opts.log ?? (() => undefined);
  const marker = workshopMarker();
  const agenda = loadAgenda(opts.agendaPath ?? defaultAgenda, { notebooksDir: opts.notebooksDir });
  const cleanups: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    cleanups.length = 0;
  };
  try {
    let runner: CellRunner | undefined;
    let rehearsalReason: string | undefined;
    let jupyter: { url: string; token: string } | undefined;
    if (opts.rehearsal) rehearsalReason = 'started with --rehearsal';
    else {
      const problems = await livePreflight();
      if (problems.length) rehearsalReason = `preflight failed: ${problems.join('; ')}`;
    }
    if (!rehearsalReason) {
      try {
        const { startJupyter } = await import('../cli/jupyter.ts');
        log('starting Jupyter (tslab kernel)…');
        const j = await startJupyter();
        cleanups.push(() => j.stop());
        jupyter = { url: j.url, token: j.token };
        runner = await JupyterRunner.start(j);
      } catch (e) {
        rehearsalReason = `Jupyter did not start: ${(e as Error).message.split('\n')[0]}`;
      }
    }
    runner ??= new RehearsalRunner();
    const r = runner;
    cleanups.push(() => r.dispose());

    let siteUrl: string | undefined;
    let siteProblem: string | undefined = 'not started (--without-site)';
    if (opts.site !== false) {
      log('starting the site…');
      const { site, problem } = await startSite(opts.host ?? '127.0.0.1');
      siteProblem = problem;
      if (site) {
        siteUrl = site.url;
        cleanups.push(async () => void (await (site.stop ?? site.close)?.call(site)));
      }
    }

    const server = await WorkshopServer.start({ agenda, runner, marker, host: opts.host, port: opts.port, siteUrl, siteProblem, rehearsalReason });
    cleanups.push(() => server.close());
    const stop = stopAll;
    return {
      server,
      agenda,
      mode: runner.mode,
      rehearsalReason,
      jupyter,
      siteUrl,
      siteProblem,
      marker,
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}
