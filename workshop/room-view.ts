/**
 * The instructor's view of a hands-on room: who signed in, whose notebook and Go servers run, whose
 * server crashed under which probe, who traced safely, their exercise results; reset one attendee
 * or the whole room. On 127.0.0.1, behind a secret URL like the instructor console.
 */
import { createServer, type Server } from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readProgressFile } from '../engines/exercises/progress.ts';
import { attendeeProgressFile, type AttendeeState, type HandsOnRoom } from './hands-on.ts';

export interface RoomView {
  url: string;
  stop(): Promise<void>;
}

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * An attendee's exercise results, from the progress file their notebook kernel keeps in their home.
 * The attendee controls that path (a FIFO, a link to /dev/zero, gigabytes): it is read as theirs only,
 * bounded and off libuv's pool (readProgressFile), and anything odd reads as "unreadable".
 */
async function exerciseResults(home: string, uid: number): Promise<string> {
  const progress = await readProgressFile(attendeeProgressFile(home), uid).catch(() => undefined);
  if (!progress) return 'unreadable';
  const tried = Object.entries(progress).filter(([, saved]) => saved.result && !saved.result.untried);
  if (!tried.length) return '';
  const passed = tried.filter(([, saved]) => saved.result!.pass).map(([name]) => name);
  return `${passed.length}/${tried.length} passed${passed.length ? `: ${passed.join(', ')}` : ''}`;
}

function page(states: (AttendeeState & { exercises: string })[], token: string): string {
  const yes = (b: boolean) => (b ? '✓' : '—');
  const rows = states
    .map(
      (
        s,
      ) => `<tr><td>${escape(s.name)}</td><td>${yes(s.signedIn)}</td><td>${yes(s.notebookServer)}</td><td>${s.goServers.length}</td>
<td>${escape(s.probes.join('; ') || '—')}</td><td>${escape(s.crashedUnder.join('; ') || '—')}</td><td>${yes(s.tracedSafely)}</td>
<td>${s.events} / ${s.drops}</td><td>${escape(s.limitsHit.join('; ') || '—')}</td><td>${escape(s.exercises || '—')}</td>
<td><form method="post" action="reset?token=${token}&amp;name=${encodeURIComponent(s.name)}"><button>reset</button></form></td></tr>`,
    )
    .join('\n');
  return `<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="5"><title>Hands-on room</title>
<style>body{font:14px system-ui;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style>
<h1>Hands-on room</h1>
<table><thead><tr><th>attendee</th><th>signed in</th><th>notebook server</th><th>Go servers</th><th>probes</th><th>crashed under</th><th>traced safely</th><th>events / drops</th><th>limits hit</th><th>exercises</th><th></th></tr></thead>
<tbody>${rows}</tbody></table>
<form method="post" action="reset?token=${token}&amp;name=*"><button>reset the whole room</button></form>`;
}

export async function startRoomView(room: HandsOnRoom): Promise<RoomView> {
  const token = randomBytes(18).toString('base64url');
  const expected = Buffer.from(token);
  const allowed = (t: string | null) =>
    t !== null && t.length === token.length && timingSafeEqual(Buffer.from(t), expected);
  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (!allowed(url.searchParams.get('token'))) {
        res
          .writeHead(401, { 'content-type': 'text/plain' })
          .end('the room view needs the URL ./lab workshop --hands-on printed\n');
        return;
      }
      if (req.method === 'POST' && url.pathname === '/reset') {
        const name = url.searchParams.get('name') ?? '';
        for (const a of room.attendees)
          if (name === '*' || name === a.account.name) await room.resetAttendee(a.account.name);
        res.writeHead(303, { location: `/?token=${token}` }).end();
        return;
      }
      const states = await room.roomView();
      const withExercises = await Promise.all(
        states.map(async (s) => {
          const account = room.attendees.find((a) => a.account.name === s.name)!.account;
          return { ...s, exercises: await exerciseResults(account.home, account.uid) };
        }),
      );
      if (url.pathname === '/room.json') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(withExercises));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page(withExercises, token));
    })().catch((e: Error) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`room view: ${e.message.split('\n')[0]}\n`);
    });
  });
  server.on('clientError', (_e, socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/?token=${token}`,
    stop: () => new Promise<void>((r) => server.close(() => r())),
  };
}
