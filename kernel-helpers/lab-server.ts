/**
 * The Go server as a cell sees it: build it (with progress), run a private copy
 * of it as a managed, registered process, send it requests, and catch its crash.
 */
import { readFileSync, statSync } from 'node:fs';
import { buildServer as buildWith, goToolchain, type GoToolchain } from '../core/go.ts';
import { LabError } from '../core/errors.ts';
import { ManagedServer, PrivateServer, type ServerExit } from '../engines/managed-server.ts';
import { classifyDeath } from '../model/forensics.ts';
import { keep } from './registry.ts';
import { escapeHtml, preHtml, showHtml, showTable } from './display.ts';

export interface BuiltServer {
  binary: string;
  go: string;
  bytes: number;
}

/** Builds server/ with a Go toolchain (default: the machine's `go`), skipping when up to date. */
export async function buildServer(go = 'go'): Promise<BuiltServer> {
  const started = Date.now();
  const tc: GoToolchain = await goToolchain(go);
  console.log(`building server/ with ${tc.version} (${go})…`);
  const binary = await buildWith(tc);
  const bytes = statSync(binary).size;
  console.log(`✓ ${binary} (${(bytes / 1e6).toFixed(1)} MB) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return { binary, go: tc.version, bytes };
}

/** A running server owned by the notebook: a private copy of the binary, so probes touch no one else's process. */
export class LabServer extends PrivateServer {
  private constructor(
    readonly name: string,
    managed: ManagedServer,
  ) {
    super(managed);
  }

  static async start(name: string, binary: string): Promise<LabServer> {
    return new LabServer(name, await ManagedServer.start({ binary, privateCopy: 'lab-notebook-' }));
  }

  /** /proc/PID/maps now (the [uprobes] mapping appears once a uretprobe has fired). */
  maps(): string {
    try {
      return readFileSync(`/proc/${this.pid}/maps`, 'utf8');
    } catch {
      throw new LabError(
        `cannot read /proc/${this.pid}/maps: the server is not running`,
        'read the maps while it is alive',
      );
    }
  }

  /** Waits for the server to die (up to `timeoutMs`), with its stderr. */
  async crashed(timeoutMs = 10000): Promise<ServerExit> {
    const exit = await this.managed.exitWithin(timeoutMs);
    if (!exit)
      throw new LabError(
        `${this.name} (pid ${this.pid}) is still running after ${timeoutMs / 1000} s`,
        'it did not crash: is the probe attached?',
      );
    return exit;
  }
}

/** Starts a private copy of `binary` (default: the last build) and keeps it under `name`; a re-run replaces it. */
export async function startServer(name = 'server', binary?: string): Promise<LabServer> {
  const bin = binary ?? (await buildServer()).binary;
  const s = await keep(name, await LabServer.start(name, bin));
  console.log(`${name}: pid ${s.pid} listening on ${s.url} (binary: private copy ${s.binary})`);
  return s;
}

/** Sends each request in turn and shows a table of what came back. */
export async function request(
  server: LabServer,
  ...paths: string[]
): Promise<{ path: string; status: number; body: string }[]> {
  const out = [];
  for (const path of paths) out.push({ path, ...(await server.get(path)) });
  showTable(
    ['request', 'status', 'response'],
    out.map((r) => [r.path, r.status === 0 ? 'no answer' : r.status, r.body.trim().slice(0, 200)]),
  );
  return out;
}

/** The server's crash: how it died and the runtime's own words (the last `lines` of stderr). */
export function showExit(exit: ServerExit, lines = 40): void {
  const how = exit.signal ? `killed by ${exit.signal}` : `exit status ${exit.code}`;
  const text = exit.stderr.trim().split('\n');
  const tail = text.slice(0, lines).join('\n') + (text.length > lines ? `\n… (${text.length - lines} more lines)` : '');
  showHtml(
    `<p><b>server died: ${escapeHtml(how)}</b> — ${escapeHtml(classifyDeath(exit).summary)}</p>${preHtml(tail)}`,
  );
}
