/**
 * The per-kernel registry: everything a cell starts or attaches is kept under a
 * name the cell chooses. Running the cell again first closes what its previous
 * run left under that name, so re-running a notebook never piles up probes or
 * servers; `resetLab()` closes everything. Tslab compiles cells with
 * TypeScript 5.0, which has no `using`, so this is how cells stay tidy.
 */
import { createRequire } from 'node:module';

export interface Closable {
  close(): void | Promise<unknown>;
}

// On globalThis: a re-imported copy of this module must see the same registry, and the kernel's
// error reporting (kernel-helpers/cell-errors.cjs) releases through it when a cell is interrupted.
const KEY = Symbol.for('go-uretprobe-lab.kernel-registry');
/** The number of the cell run now, counted by cell-errors.cjs in the lab's tslab kernel. */
const RUN = Symbol.for('go-uretprobe-lab.cell-run');
type Store = {
  entries: Map<string, Closable>;
  hooks: boolean;
  /** The cell run that kept each name. */
  runs?: Map<string, number | undefined>;
  /** What the last interrupt released. */
  interruptReleased?: string[];
  releaseRun?: (run: number | undefined) => string[];
};
const store: Store = ((globalThis as Record<symbol, Store>)[KEY] ??= { entries: new Map(), hooks: false });
const runs = (store.runs ??= new Map());
const currentRun = () => (globalThis as Record<symbol, { run: number } | undefined>)[RUN]?.run;

/** Keeps `resource` under `name`, closing whatever an earlier run kept there. */
export async function keep<T extends Closable>(name: string, resource: T): Promise<T> {
  await release(name);
  store.entries.set(name, resource);
  runs.set(name, currentRun());
  installExitHooks();
  return resource;
}

/** Closes and forgets what is kept under `name` (nothing if there is none). */
export async function release(name: string): Promise<void> {
  const old = store.entries.get(name);
  if (!old) return;
  store.entries.delete(name);
  await old.close();
}

/**
 * An interrupted cell: forgets what cell run `run` kept, closes it in the background (a probe
 * detaches, a server stops) and returns the names. The release after an interrupt on the site
 * reads them back with releasedAtInterrupt().
 */
export function releaseRun(run: number | undefined): string[] {
  const names = run === undefined ? [] : kept().filter((n) => runs.get(n) === run);
  for (const n of names) {
    const r = store.entries.get(n)!;
    store.entries.delete(n);
    Promise.resolve()
      .then(() => r.close())
      .catch(() => {});
  }
  store.interruptReleased = names;
  return names;
}
store.releaseRun = releaseRun;

/** What the last interrupt released (releaseRun). */
export const releasedAtInterrupt = (): string[] => store.interruptReleased ?? [];

/** Names of what is currently kept. */
export function kept(): string[] {
  return [...store.entries.keys()];
}

/** Closes everything the registry holds, newest first; returns what it closed. */
export async function releaseAll(): Promise<string[]> {
  const names = kept().reverse();
  for (const n of names) await release(n);
  return names;
}

/** Closes everything at once, without waiting: for the last moments of the process. */
function closeAllNow(): void {
  for (const r of store.entries.values()) {
    try {
      void r.close();
    } catch {
      // keep closing the rest
    }
  }
}

/**
 * In a tslab kernel: when tslab closes its sockets after a shutdown request (shutdown or restart),
 * our servers and probes would keep the process alive until Jupyter kills it. Leave right away instead,
 * through process.exit, so every 'exit' handler (the tracer's, the servers') runs.
 */
function exitWithTslab(): void {
  const main = process.argv[1];
  if (!main || !/tslab/.test(main)) return;
  try {
    const jupyter = createRequire(main)('tslab/dist/jupyter.js') as { ZmqServer?: { prototype: { close(): void } } };
    const proto = jupyter.ZmqServer?.prototype;
    if (!proto) return;
    const close = proto.close;
    proto.close = function (this: unknown) {
      close.call(this);
      closeAllNow();
      setTimeout(() => process.exit(0), 100);
    };
  } catch {
    // not tslab after all: the SIGTERM hook still covers us
  }
}

function installExitHooks(): void {
  if (store.hooks) return;
  store.hooks = true;
  exitWithTslab();
  // Jupyter stops a kernel with SIGTERM after its shutdown request: close what we hold, then leave
  // through process.exit so every 'exit' handler (the tracer's, the servers') runs too.
  process.once('SIGTERM', () => {
    closeAllNow();
    process.exit(143);
  });
}
