import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { parse, shown, type Command } from '../command.ts';
import { buildAll } from '../build.ts';
import { LabError } from '../../core/errors.ts';
import { say } from '../../core/ui.ts';
import { archiveRoot, listArchives, removeArchives } from '../../engines/services/accounts.ts';
import { defaultSandboxLimits, parseMemory, type SandboxLimits } from '../../workshop/sandbox.ts';

const consent = 'i-understand-attendees-reach-this-machine';

export const workshopCommand: Command = {
  name: 'workshop',
  summary: 'instructor mode: Jupyter + site + workshop server; prints the instructor console and attendee URLs',
  usage:
    `./lab workshop [--rehearsal] [--port=N] [--agenda=workshop/agenda.json] [--without-site]\n` +
    `       [--host=0.0.0.0 --${consent}]   (attendees on other machines; default 127.0.0.1 only)\n` +
    `./lab workshop --hands-on N   every attendee gets an account, a notebook server (JupyterHub) and their own Go server;\n` +
    `                               they probe their own processes through the probe service (root only; 127.0.0.1)\n` +
    `       [--memory=${defaultSandboxLimits.memoryBytes / 1024 ** 3}g] [--cpus=${defaultSandboxLimits.cpus}] [--pids=${defaultSandboxLimits.pids}]   each attendee's limits (their own cgroup, PID and network namespace)\n` +
    `       [--containers]   each attendee's notebook server and Go server in a container (DockerSpawner on Podman, the lab's image)\n` +
    `./lab workshop --remove-archives   deletes the attendees' archived homes (kept, root-only, in ${archiveRoot})`,
  async run(argv) {
    const { values } = parse('workshop', argv, {
      flags: {
        rehearsal: { type: 'bool' },
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'int', min: 0, max: 65535, default: 0 },
        agenda: { type: 'path' },
        'without-site': { type: 'bool' },
        [consent]: { type: 'bool' },
        'hands-on': { type: 'int', min: 1, max: 40 },
        containers: { type: 'bool' },
        memory: { type: 'string' },
        cpus: { type: 'string' },
        pids: { type: 'int', min: 16, max: 100000 },
        'remove-archives': { type: 'bool' },
      },
    });
    if (values['remove-archives']) return removeArchivedHomes();
    if (values['hands-on'] !== undefined)
      return handsOn(
        values['hands-on'],
        {
          memoryBytes: values.memory === undefined ? defaultSandboxLimits.memoryBytes : parseMemory(values.memory),
          cpus: values.cpus === undefined ? defaultSandboxLimits.cpus : parseCpus(values.cpus),
          pids: values.pids ?? defaultSandboxLimits.pids,
        },
        Boolean(values.containers),
      );
    for (const f of ['memory', 'cpus', 'pids'] as const)
      if (values[f] !== undefined) throw new LabError(`--${f} limits a hands-on attendee`, `add --hands-on N`);
    if (values.containers) throw new LabError('--containers runs a hands-on room in containers', 'add --hands-on N');
    const { host, port } = values;
    const loopback = await onlyLoopback(host);
    if (!loopback && !values[consent]) {
      throw new LabError(
        `--host ${shown(host)} lets every machine that reaches this one open the workshop server (the attendee view, and the instructor console to anyone holding the token)`,
        `add --${consent} if that is what you want, or leave --host out to stay on 127.0.0.1`,
      );
    }
    if (port === 8091)
      throw new LabError(
        'port 8091 is reserved for the Go server (./lab run-app)',
        'pick another --port or leave it out',
      );
    if (!loopback) {
      say(
        `WARNING: binding the workshop server to ${host}: attendees reach this machine. Jupyter stays on 127.0.0.1 and is never proxied; attendees cannot execute anything.`,
      );
    }

    // Cells run the Go server; a failed rebuild (e.g. the binary is busy) still leaves a usable one.
    await buildAll({}, ['server']).catch((e: Error) =>
      say(`server not rebuilt (${e.message.split('\n')[0]}); cells use the existing binary`),
    );
    // A bug reached by some input must not end the workshop mid-session (nor leave Jupyter behind):
    // cli/main.ts logs it in one line and keeps serving (core/keep-serving.ts), the hands-on room too.
    const { startWorkshop } = await import('../../workshop/start.ts');
    // @jupyterlab/services reports every kernel socket and status change on console.debug.
    console.debug = () => undefined;
    const ws = await startWorkshop({
      rehearsal: values.rehearsal,
      host,
      port,
      agendaPath: values.agenda,
      site: !values['without-site'],
      log: say,
    });
    let stopping: Promise<void> | undefined;
    const stop = () => (stopping ??= ws.stop());
    const done = new Promise<number>((res) => {
      for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
        process.once(sig, () => void stop().then(() => res(0)));
    });

    if (ws.mode === 'rehearsal')
      say(`REHEARSAL MODE — recorded outputs are replayed, nothing executes (${ws.rehearsalReason})`);
    else
      say(
        `live mode: cells run on the tslab kernel of Jupyter (127.0.0.1 only; the token stays in the workshop server)`,
      );
    if (values['without-site']) say('no site (--without-site): the views name each page instead of showing it');
    for (const s of ws.agenda.sections) for (const p of s.problems) say(`agenda: ${s.id}: ${p}`);
    // URLs alone on their lines, on stdout: easy to copy, easy for scripts to pick up.
    console.log('Instructor console (secret: anyone with this URL drives the lab):');
    console.log(ws.server.instructorUrl);
    console.log('Attendee view (share this one):');
    for (const url of ws.server.attendeeUrls) console.log(url);
    say('Ctrl-C stops the workshop server, Jupyter, the site and everything they started');
    return done;
  },
};

/** True when every address the host names is a loopback one (127/8, ::1): no other machine reaches it. */
async function onlyLoopback(host: string): Promise<boolean> {
  const isLoopbackIp = (ip: string) => /^(::ffff:)?127\./.test(ip) || ip === '::1';
  if (isIP(host)) return isLoopbackIp(host);
  const addresses = await lookup(host, { all: true }).catch(() => {
    throw new LabError(
      `--host ${shown(host)} does not resolve to an address`,
      'pass an IP address or a name this machine resolves, or leave --host out for 127.0.0.1',
    );
  });
  return addresses.every((a) => isLoopbackIp(a.address));
}

function parseCpus(text: string): number {
  const cpus = Number(text);
  if (!Number.isFinite(cpus) || cpus < 0.05 || cpus > 1024)
    throw new LabError(`--cpus ${shown(text, 20)}: not a number of CPUs`, 'e.g. --cpus 1 or --cpus 0.5');
  return cpus;
}

/** `--remove-archives`: the instructor's explicit word that the attendees' work may go. */
async function removeArchivedHomes(): Promise<number> {
  const files = await listArchives();
  await removeArchives();
  say(
    files.length
      ? `removed ${files.length} archived home(s) from ${archiveRoot}`
      : `no archived homes in ${archiveRoot}`,
  );
  return 0;
}

/** `--hands-on N`: the room of unprivileged attendees (workshop/hands-on.ts), until a signal ends it. */
async function handsOn(attendees: number, sandbox: SandboxLimits, containers: boolean): Promise<number> {
  await buildAll({}, ['server', 'addon', 'kernelspec', 'probe-gate']);
  const { startHandsOn } = await import('../../workshop/hands-on.ts');
  say(
    `creating ${attendees} attendee account(s), their ${containers ? 'containers' : 'sandboxes'} (memory ${(sandbox.memoryBytes / 1024 ** 2).toFixed(0)} MB, ${sandbox.cpus} CPU, ${sandbox.pids} pids each), Go servers, the probe service and JupyterHub…`,
  );
  const room = await startHandsOn({ attendees, sandbox, containers, log: say });
  const { startRoomView } = await import('../../workshop/room-view.ts');
  const view = await startRoomView(room).catch(async (e: Error) => (await room.stop(), Promise.reject(e)));
  let stopping: Promise<void> | undefined;
  const done = new Promise<number>((res) => {
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
      process.once(sig, () => {
        say('stopping: JupyterHub, the probe service, every attendee process and account…');
        void (stopping ??= view.stop().then(() => room.stop())).then(() => {
          say(`hands-on room removed; the attendees' homes are archived in ${room.archiveDir}`);
          say('(root-only; ./lab workshop --remove-archives deletes them)');
          res(0);
        });
      });
  });
  console.log('JupyterHub (hand this URL out):');
  console.log(room.hubUrl);
  console.log('Room view for the instructor (secret):');
  console.log(view.url);
  console.log('Sign-in codes (one per attendee: name / code):');
  for (const a of room.attendees) console.log(`  ${a.account.name} / ${a.code}`);
  say(`ready: ${attendees} attendee(s); Ctrl-C removes the room (accounts, processes, probes)`);
  const report = setInterval(() => {
    void room.roomView().then(
      (states) => {
        for (const s of states) {
          if (s.limitsHit.length) say(`room: ${s.name} hit its ${s.limitsHit.join(' and ')}`);
          if (s.crashedUnder.length || s.probes.length)
            say(
              `room: ${s.name}: ${s.notebookServer ? 'notebook server up' : 'no notebook server'}, probes ${s.probes.length}, crashed under ${s.crashedUnder.join('; ') || 'nothing'}${s.tracedSafely ? ', traced safely' : ''}`,
            );
        }
      },
      () => {},
    );
  }, 15000);
  report.unref();
  return done.finally(() => clearInterval(report));
}
