/**
 * JupyterHub for a hands-on workshop: the hub and its configurable-http-proxy on 127.0.0.1, one
 * tslab notebook server per attendee spawned as that attendee's Linux user, through a command the
 * room gives (its sandbox: limits, namespace, the switch to the attendee's uid), sign-in with a
 * per-attendee code — or, for a room in containers, one container per attendee that DockerSpawner
 * starts through a Docker-compatible API (Podman's). Config, database and secrets live in a root-only directory;
 * what attendees' servers must read (the kernelspec) lives in a world-readable one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { at } from '../../core/paths.ts';
import { LabError } from '../../core/errors.ts';
import { writeFileAtomic } from '../../core/files.ts';
import { freePort } from '../../core/ports.ts';
import { tslabKernelSpec, venvDir } from './jupyter.ts';

export const hubBinary = join(venvDir, 'bin', 'jupyterhub');
export const singleuserBinary = join(venvDir, 'bin', 'jupyterhub-singleuser');
export const proxyBinary = at('node_modules', 'configurable-http-proxy', 'bin', 'configurable-http-proxy');

export interface HubAttendee {
  name: string;
  code: string;
  /** Runs the rest of its argv as the attendee, where they run (the hub itself stays root until here). */
  command: string[];
  /** The notebook server's port (127.0.0.1), fixed so the room can forward it into the attendee's network namespace. */
  port: number;
  /** Extra environment for this attendee's notebook server. */
  env: Record<string, string>;
  /** When the room runs attendees in containers (HubOptions.containers): theirs. */
  container?: HubAttendeeContainer;
}

/** One attendee's container, as DockerSpawner creates it. */
export interface HubAttendeeContainer {
  /** The container's name. */
  name: string;
  /** The unprivileged uid:gid everything in it runs as (the attendee's own, unique in the room). */
  user: string;
  /** Runs before the notebook server, which it must exec as "$@" (the attendee's Go server starts here). */
  entry: string[];
  /** Host paths bound in at the same path, read-write or read-only. */
  binds: Record<string, 'rw' | 'ro'>;
  /** Ports inside the container (127.0.0.1) the host's loopback reaches, the notebook server's first. */
  inward: number[];
  workdir: string;
  labels: Record<string, string>;
}

/** DockerSpawner against a Docker-compatible API (Podman's): one container per attendee, each with these limits. */
export interface HubContainers {
  /** The API's base_url (unix:///…/podman.sock). */
  dockerUrl: string;
  /** Containers are named <namePrefix>-<attendee> (HubAttendeeContainer.name says the same). */
  namePrefix: string;
  image: string;
  memoryBytes: number;
  cpus: number;
  pids: number;
  /** Explicit soft and hard limits (nofile, nproc): not left to the runtime's defaults. */
  ulimits: { name: string; soft: number; hard: number }[];
  /**
   * Forwards ports between the host's loopback and a network namespace (its file follows, then
   * in:PORT… out:PORT…); prints "ready". The containers have no network of their own: only these ports cross.
   */
  forwarder: string[];
}

export interface HubOptions {
  /** Root-only state: config, sqlite, cookie secret. */
  stateDir: string;
  /** World-readable: the kernelspec the attendees' servers use. */
  publicDir: string;
  attendees: HubAttendee[];
  /** Environment for every attendee's notebook server. */
  env: Record<string, string>;
  /** Each attendee's notebook server in a container (DockerSpawner) instead of through their command. */
  containers?: HubContainers;
  onLog?: (line: string) => void;
}

export interface RunningHub {
  url: string;
  /** Where notebook servers reach the hub's API (127.0.0.1). */
  apiPort: number;
  apiToken: string;
  process: ChildProcess;
  /** GET on the hub's REST API as the instructor's service. */
  api<T>(path: string, method?: string): Promise<T>;
  stop(): Promise<void>;
}

const py = (v: unknown) => JSON.stringify(v); // JSON literals are Python literals for str/int/list/dict/bool-free data

function hubConfig(o: {
  port: number;
  hubPort: number;
  proxyApiPort: number;
  stateDir: string;
  jupyterPath: string;
  attendees: HubAttendee[];
  env: Record<string, string>;
  containers?: HubContainers;
}): string {
  const codes = Object.fromEntries(o.attendees.map((a) => [a.name, a.code]));
  const perUser = Object.fromEntries(o.attendees.map((a) => [a.name, a.env]));
  const commands = Object.fromEntries(o.attendees.map((a) => [a.name, a.command]));
  const ports = Object.fromEntries(o.attendees.map((a) => [a.name, a.port]));
  return `# Written by ./lab workshop --hands-on (engines/services/hub.ts); removed when it stops.
import hmac, os
from jupyterhub.auth import Authenticator
from jupyterhub.spawner import LocalProcessSpawner

CODES = ${py(codes)}
PER_USER_ENV = ${py(perUser)}
COMMANDS = ${py(commands)}
PORTS = ${py(ports)}

class SignInCodeAuthenticator(Authenticator):
    """Each attendee signs in with their name and the code the instructor handed out."""
    async def authenticate(self, handler, data):
        name = (data or {}).get("username", "")
        code = (data or {}).get("password", "")
        want = CODES.get(name)
        if want and hmac.compare_digest(want.encode(), code.encode()):
            return name
        return None

class AttendeeCommandSpawner(LocalProcessSpawner):
    """Starts the server through the attendee's command, which switches to their uid itself."""
    def make_preexec_fn(self, name):
        return None
    async def start(self):
        self.cmd = COMMANDS[self.user.name] + [${py(singleuserBinary)}]
        self.port = PORTS[self.user.name]
        return await super().start()

c = get_config()  # noqa
c.JupyterHub.bind_url = "http://127.0.0.1:${o.port}/"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:${o.hubPort}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:${o.proxyApiPort}"
c.ConfigurableHTTPProxy.command = [${py(proxyBinary)}]
c.ConfigurableHTTPProxy.auth_token = os.environ["LAB_PROXY_TOKEN"]
c.JupyterHub.db_url = "sqlite:///" + ${py(join(o.stateDir, 'jupyterhub.sqlite'))}
c.JupyterHub.cookie_secret_file = ${py(join(o.stateDir, 'cookie_secret'))}
c.JupyterHub.pid_file = ${py(join(o.stateDir, 'jupyterhub.pid'))}
c.JupyterHub.cleanup_servers = True
c.JupyterHub.authenticator_class = SignInCodeAuthenticator
c.JupyterHub.spawner_class = AttendeeCommandSpawner
c.Authenticator.allowed_users = set(CODES)
c.JupyterHub.services = [{"name": "lab-instructor", "api_token": os.environ["LAB_HUB_API_TOKEN"]}]
c.JupyterHub.load_roles = [{"name": "lab-instructor", "scopes": ["list:users", "read:users", "read:servers", "servers", "admin:servers", "tokens"], "services": ["lab-instructor"]}]
c.Spawner.ip = "127.0.0.1"
c.Spawner.notebook_dir = "/home/{username}/notebooks"
c.Spawner.default_url = "/lab"
c.Spawner.args = ["--ServerApp.terminals_enabled=False", "--MappingKernelManager.cull_idle_timeout=0"]
c.Spawner.http_timeout = 60
c.Spawner.start_timeout = 90
${o.containers ? containerConfig(o.containers, o.attendees, o.hubPort) : ''}BASE_ENV = ${py({ ...o.env, JUPYTER_PATH: o.jupyterPath })}
def _env(spawner):
    env = dict(BASE_ENV)
    env.update(PER_USER_ENV.get(spawner.user.name, {}))
    return env
c.Spawner.environment = {k: (lambda spawner, k=k: _env(spawner)[k]) for k in set(BASE_ENV) | {k for e in PER_USER_ENV.values() for k in e}}
`;
}

/**
 * DockerSpawner for the attendees: their container, as their uid, with the room's limits, no
 * capability, no new privileges and no network — the notebook server's port (and the Go server's)
 * reached from the host's loopback and the hub's API from inside through the forwarder, nothing else.
 */
function containerConfig(c: HubContainers, attendees: HubAttendee[], hubPort: number): string {
  const perUser = Object.fromEntries(attendees.filter((a) => a.container).map((a) => [a.name, a.container]));
  return `
import asyncio
from dockerspawner import DockerSpawner

CONTAINERS = ${py(perUser)}
FORWARDER = ${py(c.forwarder)}

class AttendeeContainerSpawner(DockerSpawner):
    """DockerSpawner, then the forwarder into the container's network namespace."""
    _forwarder = None

    async def start(self):
        box = CONTAINERS[self.user.name]
        self.port = PORTS[self.user.name]
        self.cmd = box["entry"] + [${py(singleuserBinary)}]
        self.volumes = {path: {"bind": path, "mode": mode} for path, mode in box["binds"].items()}
        await super().start()
        info = await self.docker("inspect_container", self.container_id)
        ns = "/proc/%d/ns/net" % info["State"]["Pid"]
        self._forwarder = await asyncio.create_subprocess_exec(
            *FORWARDER, ns, *["in:%d" % p for p in box["inward"]], "out:${hubPort}",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        line = await asyncio.wait_for(self._forwarder.stdout.readline(), 30)
        if b"ready" not in line:
            raise RuntimeError("the forwarder into %s did not start: %s" % (box["name"], line[:200]))
        return ("127.0.0.1", self.port)

    async def get_ip_and_port(self):
        return ("127.0.0.1", self.port)

    async def stop(self, now=False):
        if self._forwarder is not None and self._forwarder.returncode is None:
            self._forwarder.kill()
        self._forwarder = None
        await super().stop(now)

def _create_kwargs(spawner):
    box = CONTAINERS[spawner.user.name]
    return {"user": box["user"], "working_dir": box["workdir"], "labels": box["labels"]}

c.JupyterHub.spawner_class = AttendeeContainerSpawner
c.DockerSpawner.client_kwargs = {"base_url": ${py(c.dockerUrl)}}
c.DockerSpawner.image = ${py(c.image)}
c.DockerSpawner.pull_policy = "never"
c.DockerSpawner.remove = True
c.DockerSpawner.prefix = ${py(c.namePrefix)}  # containers are named <prefix>-<attendee>
c.DockerSpawner.network_name = "none"
c.DockerSpawner.use_internal_ip = True
c.DockerSpawner.mem_limit = ${c.memoryBytes}
c.DockerSpawner.cpu_limit = ${c.cpus}
c.DockerSpawner.extra_create_kwargs = _create_kwargs
c.DockerSpawner.extra_host_config = {
    "pids_limit": ${c.pids},
    "memswap_limit": ${c.memoryBytes},
    "ulimits": ${py(c.ulimits)},
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges"],
    "network_mode": "none",
}
`;
}

/** The tslab kernelspec attendees' servers find through JUPYTER_PATH (world-readable, no secrets). */
async function writeKernelspec(publicDir: string): Promise<string> {
  const jupyterPath = join(publicDir, 'jupyter');
  const dir = join(jupyterPath, 'kernels', 'tslab');
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await writeFileAtomic(join(dir, 'kernel.json'), JSON.stringify(tslabKernelSpec('TypeScript (tslab)'), null, 1));
  return jupyterPath;
}

export async function startHub(o: HubOptions): Promise<RunningHub> {
  await mkdir(o.stateDir, { recursive: true, mode: 0o700 });
  await chmod(o.stateDir, 0o700);
  await mkdir(o.publicDir, { recursive: true, mode: 0o755 });
  await chmod(o.publicDir, 0o755);
  const jupyterPath = await writeKernelspec(o.publicDir);
  const [port, hubPort, proxyApiPort] = [await freePort(), await freePort(), await freePort()];
  const apiToken = randomBytes(24).toString('hex');
  const configFile = join(o.stateDir, 'jupyterhub_config.py');
  await writeFileAtomic(
    configFile,
    hubConfig({
      port,
      hubPort,
      proxyApiPort,
      stateDir: o.stateDir,
      jupyterPath,
      attendees: o.attendees,
      env: o.env,
      containers: o.containers,
    }),
    0o600,
  );
  // setpriv --pdeathsig: the hub goes when the lab process does, however that dies.
  const child = spawn('setpriv', ['--pdeathsig=SIGTERM', '--', hubBinary, '-f', configFile], {
    cwd: o.stateDir,
    env: {
      ...process.env,
      LAB_HUB_API_TOKEN: apiToken,
      LAB_PROXY_TOKEN: randomBytes(24).toString('hex'),
      PATH: `${join(venvDir, 'bin')}:${process.env.PATH}`,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group: the proxy and the attendees' servers go with it
  });
  const url = `http://127.0.0.1:${port}/`;
  let log = '';
  const onData = (d: Buffer) => {
    log = (log + d).slice(-20000);
    for (const line of String(d).split('\n')) if (line.trim()) o.onLog?.(line);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const api = async <T>(path: string, method = 'GET'): Promise<T> => {
    const r = await fetch(`${url}hub/api${path}`, { method, headers: { Authorization: `token ${apiToken}` } });
    if (!r.ok) throw new LabError(`JupyterHub ${method} ${path}: HTTP ${r.status}`, 'see the hub log');
    const body = await r.text();
    return ((r.headers.get('content-type') ?? '').includes('json') && body ? JSON.parse(body) : undefined) as T;
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {}
      await Promise.race([exited, new Promise((r) => setTimeout(r, 8000))]);
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {}
    }
    await rm(o.stateDir, { recursive: true, force: true });
    await rm(o.publicDir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new LabError(
        `JupyterHub exited while starting: ${log.trim().split('\n').slice(-3).join(' | ').slice(0, 400)}`,
        'see the hub log above',
      );
    }
    const up = await fetch(`${url}hub/api/`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) break;
    if (Date.now() > deadline) {
      await stop();
      throw new LabError('JupyterHub did not answer within 90 s', 'see the hub log');
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  return { url, apiPort: hubPort, apiToken, process: child, api, stop };
}
