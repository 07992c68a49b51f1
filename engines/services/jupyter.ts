import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { at, root } from '../../core/paths.ts';
import { writeFileAtomic, writeFileAtomicSync } from '../../core/files.ts';
import { runInstaller } from '../../core/installer-log.ts';
import { LabError } from '../../core/errors.ts';
import { say } from '../../core/ui.ts';
import { allPids, statOf } from '../../core/procfs.ts';
import type { SetupStep } from '../../core/setup-step.ts';

/** The project-local venv that holds JupyterLab + Jupyter Server (requirements-jupyter.txt). */
export const venvDir = at('.venv');
export const venvPython = at('.venv', 'bin', 'python');
export const requirementsFile = at('requirements-jupyter.txt');
/** tslab, started through the lab's launcher (ipc transport: see the file). */
export const tslabKernelLauncher = at('engines', 'services', 'tslab-kernel.cjs');

/** The JUPYTER_PATH that finds the project's tslab kernelspec (and nothing from the user's home). */
export function jupyterPath(): string {
  return at('.lab', 'jupyter', 'share', 'jupyter');
}

export const tslabKernelJson = () => `${jupyterPath()}/kernels/tslab/kernel.json`;

/** Whether a process's command line (NUL- or space-separated) is a tslab kernel of the lab's. */
export const isTslabKernel = (cmdline: string) => cmdline.includes(tslabKernelLauncher);

/** The tslab kernelspec of every Jupyter of the lab (the launcher also ends a kernel whose Jupyter died). */
export function tslabKernelSpec(displayName = 'TypeScript') {
  return {
    argv: [process.execPath, tslabKernelLauncher, '{connection_file}'],
    display_name: displayName,
    language: 'typescript',
  };
}

/** Environment for any Jupyter process of the lab: config, data and runtime dirs stay in the project. */
export function jupyterEnv(): NodeJS.ProcessEnv {
  const dirs = {
    JUPYTER_PATH: jupyterPath(),
    JUPYTER_CONFIG_DIR: at('.lab', 'jupyter', 'config'),
    JUPYTER_DATA_DIR: at('.lab', 'jupyter', 'data'),
    JUPYTER_RUNTIME_DIR: at('.lab', 'jupyter', 'runtime'),
  };
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
  // Jupyter writes the token into jpserver-*.json and jpserver-*-open.html here.
  chmodSync(dirs.JUPYTER_RUNTIME_DIR, 0o700);
  return { ...withoutColour(process.env), ...dirs, JUPYTER_PLATFORM_DIRS: '1', PYDEVD_DISABLE_FILE_VALIDATION: '1' };
}

/**
 * Kernels inherit Jupyter's environment, and outputs are data (recorded, compared, shown in a browser),
 * never terminal text: no colour, whatever the caller's terminal asked for. node:test, for one, gives
 * its children FORCE_COLOR=1 under a terminal, and tslab's console.log would then colour a cell's `2`.
 * FORCE_COLOR wins over NO_COLOR in Node, so it goes.
 */
function withoutColour(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { FORCE_COLOR: _, ...rest } = env;
  return { ...rest, NO_COLOR: '1', NODE_DISABLE_COLORS: '1' };
}

export interface RunningJupyter extends AsyncDisposable {
  /** Base URL, e.g. http://127.0.0.1:43125/ (always ends with a slash). */
  url: string;
  token: string;
  /** Its private (0700) runtime directory: jpserver-*.json, the kernels' connection files and sockets. */
  runtimeDir: string;
  /** Kills the server and every kernel it started; idempotent. */
  stop(): Promise<void>;
}

export interface StartJupyterOptions {
  /** Defaults to a free port chosen by the OS. */
  port?: number;
  /** Jupyter's terminals (a root shell for whoever has the token): off unless asked for. */
  terminals?: boolean;
}

/** Every lab Jupyter serves under this path, so the site can proxy it as is (engines/services/site.ts). */
export const jupyterBasePath = '/jupyter/';

/** One private directory (0700) per running server, holding the config file with its token. */
const privateConfigRoot = at('.lab', 'jupyter', 'private');

/** Origins allowed to call the server from a browser: the docs site and the workshop on loopback. */
const loopbackOrigins = String.raw`^https?://(127\.0\.0\.1|localhost)(:\d+)?$`;

/**
 * Starts JupyterLab (Jupyter Server 2) from the project venv on 127.0.0.1 with a random token
 * and the project-local tslab kernelspec; resolves once /api/status answers. The token reaches it
 * in a 0600 config file, never on its command line (`ps` shows that to every user), and the
 * server runs with umask 077 so what it writes (jpserver-*.json, *-open.html) is its own.
 */
export async function startJupyter(opts: StartJupyterOptions = {}): Promise<RunningJupyter> {
  const jupyterLab = at('.venv', 'bin', 'jupyter-lab');
  if (!existsSync(jupyterLab)) {
    throw new LabError(`JupyterLab is not installed in ${venvDir}`, 'run ./lab setup');
  }
  if (!existsSync(tslabKernelJson())) {
    throw new LabError(`the tslab kernelspec is missing (${tslabKernelJson()})`, 'run ./lab setup');
  }
  const token = randomBytes(24).toString('hex');
  const env = jupyterEnv();
  mkdirSync(privateConfigRoot, { recursive: true, mode: 0o700 });
  const configDir = mkdtempSync(join(privateConfigRoot, 'server-')); // 0700
  const configFile = join(configDir, 'jupyter_server_config.json');
  await writeFileAtomic(configFile, JSON.stringify({ IdentityProvider: { token } }), 0o600);
  // Its runtime files (jpserver-*.json with the token) and its kernels' connection files and Unix sockets:
  // private to this user, and a short path (a socket's path holds 107 bytes at most).
  const runtimeDir = mkdtempSync(join(tmpdir(), 'lab-jupyter-')); // 0700
  runtimeDirs.add(runtimeDir);
  const args = [
    '--no-browser',
    '--allow-root',
    `--config=${configFile}`,
    '--ServerApp.ip=127.0.0.1',
    `--ServerApp.port=${opts.port ?? 0}`,
    '--ServerApp.port_retries=0',
    `--ServerApp.base_url=${jupyterBasePath}`,
    `--ServerApp.terminals_enabled=${opts.terminals ? 'True' : 'False'}`,
    `--ServerApp.allow_origin_pat=${loopbackOrigins}`,
    `--ServerApp.root_dir=${root}`,
    '--KernelManager.transport=ipc',
    '--ServerApp.open_browser=False',
    '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate',
    '--LabApp.news_url=None',
  ];
  // Own process group, so stop() can also reach anything the server spawned directly. The umask is
  // inherited at fork: set for this one synchronous spawn only. setpriv (util-linux) execs Jupyter with
  // a parent-death signal: should this process be killed outright (no exit hook runs), Jupyter gets
  // SIGTERM and shuts its kernels down itself.
  const umask = process.umask(0o077);
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn('setpriv', ['--pdeathsig=SIGTERM', jupyterLab, ...args], {
      cwd: root,
      env: { ...env, JUPYTER_RUNTIME_DIR: runtimeDir },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
  } finally {
    process.umask(umask);
  }
  const forgetConfig = () => rmSync(configDir, { recursive: true, force: true });
  const forgetRuntime = () => {
    rmSync(runtimeDir, { recursive: true, force: true });
    runtimeDirs.delete(runtimeDir);
  };
  let stop: (() => Promise<void>) | undefined;
  const pid = child.pid;
  // Known to the exit hook from the start: a command that ends while Jupyter starts leaves nothing behind.
  if (pid) live.set(pid, () => stop?.() ?? Promise.resolve(killNow(pid)));
  let log = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (d: Buffer) => {
      log += d;
      const m = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(log);
      if (m) resolve(`http://127.0.0.1:${m[1]}${jupyterBasePath}`);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('error', (e) => reject(new LabError(`cannot start ${jupyterLab}: ${e.message}`, 'run ./lab setup')));
    child.once('exit', (code, signal) =>
      reject(
        new LabError(
          `Jupyter exited before listening (${signal ?? `exit ${code}`}): ${log.trim().split('\n').slice(-3).join(' | ')}`,
          opts.port ? `is port ${opts.port} in use? pick another or leave it out` : 'see its log above',
        ),
      ),
    );
  }).catch((e: unknown) => {
    forgetConfig();
    forgetRuntime();
    if (pid) killNow(pid);
    live.delete(pid!);
    throw e;
  });
  let stopped: Promise<void> | undefined;
  stop = () =>
    (stopped ??= stopServer(pid!, url, token, exited).finally(() => {
      // Whatever still holds Jupyter's stdout (a kernel it left) must not keep this process alive.
      child.stdout?.destroy();
      child.stderr?.destroy();
      forgetConfig();
      forgetRuntime();
    }));
  try {
    await waitForStatus(url, token, exited);
  } catch (e) {
    await stop();
    live.delete(pid!);
    throw e;
  }
  // It answers, so it has read its config: the token now lives in its memory and its 0600 runtime files only.
  forgetConfig();
  // Drain output so the pipes never fill up and block the server.
  child.stdout!.removeAllListeners('data').resume();
  child.stderr!.removeAllListeners('data').resume();
  const stopAndForget = () => stop!().finally(() => live.delete(pid!));
  return { url, token, runtimeDir, stop: stopAndForget, [Symbol.asyncDispose]: stopAndForget };
}

async function waitForStatus(url: string, token: string, exited: Promise<void>): Promise<void> {
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && !gone) {
    const res = await fetch(new URL('api/status', url), {
      headers: { Authorization: `token ${token}` },
      signal: AbortSignal.timeout(2000),
    }).catch(() => undefined);
    if (res?.ok) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new LabError(`Jupyter at ${url} did not answer /api/status`, 'see .venv and ./lab setup');
}

/** PIDs of every descendant of `pid` (kernels run in their own session, so a group kill misses them). */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const child of allPids()) {
    const ppid = statOf(child)?.ppid;
    if (ppid !== undefined) children.set(ppid, [...(children.get(ppid) ?? []), child]); // else it ended while we looked
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function stopServer(pid: number, url: string, token: string, exited: Promise<void>): Promise<void> {
  const before = descendants(pid);
  // Ask Jupyter to shut its kernels down cleanly first (they run exit handlers: probes closed, servers stopped).
  const headers = { Authorization: `token ${token}` };
  const kernels = await fetch(new URL('api/kernels', url), { headers, signal: AbortSignal.timeout(3000) })
    .then((r) => (r.ok ? (r.json() as Promise<{ id: string }[]>) : []))
    .catch(() => []);
  await Promise.all(
    kernels.map((k) =>
      fetch(new URL(`api/kernels/${k.id}`, url), {
        method: 'DELETE',
        headers,
        signal: AbortSignal.timeout(10_000),
      }).catch(() => undefined),
    ),
  );
  const all = [...new Set([...before, ...descendants(pid)])];
  // A shutdown request ends the server at once; SIGTERM makes it linger a few seconds.
  const asked = await fetch(new URL('api/shutdown', url), {
    method: 'POST',
    headers,
    signal: AbortSignal.timeout(3000),
  })
    .then((r) => r.ok)
    .catch(() => false);
  if (!asked) {
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }, 5000);
  await exited;
  clearTimeout(timer);
  for (const p of all) if (alive(p)) process.kill(p, 'SIGKILL');
}

const live = new Map<number, () => Promise<void>>();

/** Stops every Jupyter this process started. */
export async function stopAllJupyters(): Promise<void> {
  await Promise.all([...live.values()].map((s) => s()));
}

/**
 * For a command that runs Jupyter until its work is done: SIGINT (Ctrl-C), SIGTERM and SIGHUP stop every
 * Jupyter this process started, kernels first, then end the process as that signal would (exit 128+n).
 * Jupyter runs in a process group of its own, so the terminal's Ctrl-C never reaches it: without this the
 * default action would end Node alone, exit hooks unrun. A second signal ends it at once (the exit hook
 * still kills what is left). Returns the function that removes the handlers.
 */
export function stopJupytersOnSignals(): () => void {
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  const onSignal = (sig: NodeJS.Signals) => {
    const code = 128 + (constants.signals[sig] ?? 0);
    for (const s of signals) {
      process.off(s, onSignal);
      process.once(s, () => process.exit(code));
    }
    say(`${sig}: stopping Jupyter…`);
    void stopAllJupyters().finally(() => process.exit(code));
  };
  for (const s of signals) process.on(s, onSignal);
  return () => signals.forEach((s) => process.off(s, onSignal));
}

/** SIGKILL for a server, its process group and every descendant (kernels run in sessions of their own). */
function killNow(pid: number): void {
  const all = [pid, ...descendants(pid)];
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // the group is gone
  }
  for (const p of all) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

// Last resort when the caller never stopped it: no time for a clean shutdown here.
/** Runtime directories of servers not stopped yet (they hold the token): removed at exit whatever happens. */
const runtimeDirs = new Set<string>();

process.once('exit', () => {
  for (const pid of live.keys()) killNow(pid);
  for (const dir of runtimeDirs) rmSync(dir, { recursive: true, force: true });
});

// ---- set-up: the venv and the kernelspec (registered in cli/setup.ts) ----

const requirementsStamp = at('.venv', '.lab-requirements');

export const jupyterVenvStep: SetupStep = {
  title: 'Jupyter venv (.venv: JupyterLab 4 + Jupyter Server 2, requirements-jupyter.txt)',
  async missing() {
    if (!existsSync(venvPython) || !existsSync(at('.venv', 'bin', 'jupyter-lab'))) return ['.venv'];
    const stamp = existsSync(requirementsStamp) ? readFileSync(requirementsStamp, 'utf8') : '';
    return stamp === readFileSync(requirementsFile, 'utf8') ? [] : ['the pins in requirements-jupyter.txt'];
  },
  async install() {
    if (!existsSync(venvPython)) {
      // Debian's python3 with python3-venv (aptPackages): the venv must not depend on a user's pyenv.
      await runInstaller('pip', '/usr/bin/python3', ['-m', 'venv', venvDir], {
        fix: 'install python3-venv (./lab setup as root)',
      });
    }
    await runInstaller(
      'pip',
      venvPython,
      ['-m', 'pip', 'install', '--progress-bar=off', '--require-virtualenv', '-r', requirementsFile],
      {
        fix: 'check that PyPI is reachable, then run ./lab setup again',
      },
    );
    writeFileAtomicSync(requirementsStamp, readFileSync(requirementsFile, 'utf8'));
  },
};

export const tslabKernelStep: SetupStep = {
  title: 'tslab kernelspec (.lab/jupyter, project-local)',
  async missing() {
    try {
      const spec = readFileSync(tslabKernelJson(), 'utf8');
      return spec === kernelJson() ? [] : ['tslab kernelspec (it pointed elsewhere)'];
    } catch {
      return ['tslab kernelspec'];
    }
  },
  async install() {
    await ensureKernelspec();
  },
};

const kernelJson = () => `${JSON.stringify(tslabKernelSpec(), null, 1)}\n`;

/**
 * Build target too: the kernelspec must exist even where only `./lab build` ran (an outside client such as
 * Debian's nbconvert finds it through JUPYTER_PATH).
 */
export async function ensureKernelspec(): Promise<void> {
  if (existsSync(tslabKernelJson()) && readFileSync(tslabKernelJson(), 'utf8') === kernelJson()) return;
  mkdirSync(dirname(tslabKernelJson()), { recursive: true });
  await writeFileAtomic(tslabKernelJson(), kernelJson());
}
