// The room's state alone (workshop/room.ts), without HTTP or sockets: steps, timers, the run queue,
// "run to here", what each audience is sent, and outputs kept in the shared OutputStore. Cells are
// replayed from a recorded notebook by the RehearsalRunner (nothing executes, nothing is faked).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { loadAgenda } from '../../workshop/agenda.ts';
import { RehearsalRunner } from '../../workshop/runners.ts';
import { Room, RoomError, type Audience, type RoomMessage } from '../../workshop/room.ts';
import type { ResetReport } from '../../workshop/reset.ts';
import { workshopFixture } from '../support/workshop-fixture.ts';

const fixture = workshopFixture([
  {
    id: 'a',
    source: 'console.log(1)',
    outputs: [
      { output_type: 'stream', name: 'stdout', text: ['one\n'] },
      { output_type: 'stream', name: 'stdout', text: ['more\n'] },
    ],
  },
  { id: 'b', source: 'throw 1', outputs: [{ output_type: 'error', ename: 'Error', evalue: 'boom', traceback: [] }] },
  {
    id: 'c',
    source: 'console.log(3)',
    outputs: [{ output_type: 'display_data', data: { 'text/html': ['<b>', 'three</b>'] }, metadata: {} }],
  },
]);
after(() => rmSync(fixture.dir, { recursive: true, force: true }));

function newRoom() {
  const sent: { msg: RoomMessage; audience: Audience }[] = [];
  const report: ResetReport = {
    ok: true,
    steps: ['reset step'],
    linksBefore: [],
    killed: [],
    ourLinksLeft: [],
    ourServersLeft: [],
    othersServers: [],
    bpftoolLinkList: 'links',
    bpftoolPerfList: 'perf',
  };
  const room = new Room(
    {
      agenda: loadAgenda(fixture.agendaPath),
      runner: new RehearsalRunner(0),
      resetLab: async (log) => (log('reset step'), report),
    },
    (msg, audience) => sent.push({ msg, audience }),
  );
  return { room, sent };
}
const key = (i: number) => `fixture.ipynb#${i}`;

test('steps are checked against the agenda; the timer of the section left keeps its time', () => {
  const { room, sent } = newRoom();
  assert.throws(
    () => room.setStep(7, null),
    (e) => e instanceof RoomError && e.status === 400,
  );
  assert.throws(() => room.setStep('1' as unknown as number, null), RoomError);
  assert.throws(() => room.setStep(1, key(1)), /has no cell/, 'cell of another section');
  assert.deepEqual(room.setStep(0, key(2)), { section: 0, cell: key(2) });
  room.setStep(2, null);
  const s = room.snapshot(false);
  assert.equal(s.timers.section, 2);
  assert.ok(s.timers.spentMs[0] >= 0);
  assert.deepEqual(
    sent.map((m) => [m.msg.type, m.audience]),
    [
      ['step', 'all'],
      ['step', 'all'],
    ],
  );
  assert.deepEqual(room.restartTimers().spentMs, [0, 0, 0]);
});

test('the attendee snapshot has no speaker notes and only the outcome of a reset', async () => {
  const { room, sent } = newRoom();
  assert.match(room.snapshot(true).sections[0].notes!, /first section/);
  assert.equal(room.snapshot(false).sections[0].notes, undefined);
  await room.reset();
  assert.deepEqual(room.snapshot(false).lastReset, { ok: true, steps: ['reset step'] });
  assert.equal((room.snapshot(true).lastReset as ResetReport).bpftoolLinkList, 'links');
  const resets = sent.filter((m) => m.msg.type === 'reset' || m.msg.type === 'reset-step');
  assert.deepEqual(
    resets.map((m) => [m.msg.type, m.audience]),
    [
      ['reset-step', 'instructor'],
      ['reset', 'instructor'],
      ['reset', 'attendees'],
    ],
  );
  assert.equal(
    (resets[2].msg.report as { bpftoolLinkList?: string }).bpftoolLinkList,
    undefined,
    'attendees get no bpftool listing',
  );
});

test('outputs are forwarded message by message and kept the way the views keep them', async () => {
  const { room, sent } = newRoom();
  const cell = room.findCell(key(1))!;
  assert.equal((await room.runCell(cell)).status, 'ok');
  const forwarded = sent
    .filter((m) => m.msg.type === 'output')
    .map((m) => [m.msg.msgType, (m.msg.content as { text?: string }).text]);
  assert.deepEqual(forwarded, [
    ['stream', 'one\n'],
    ['stream', 'more\n'],
  ]);
  // Two stream messages of one name are one output, as in JupyterLab.
  assert.deepEqual(
    room.outputsOf(key(1)).map((o) => o.text),
    ['one\nmore\n'],
  );
  assert.deepEqual(room.snapshot(false).cells[key(1)].outputs, room.outputsOf(key(1)));
  // Multi-line strings of the file arrive joined.
  await room.runCell(room.findCell(key(3))!);
  assert.equal(room.outputsOf(key(3))[0].data?.['text/html'], '<b>three</b>');
  // A re-run starts from no outputs.
  await room.runCell(cell);
  assert.deepEqual(
    room.outputsOf(key(1)).map((o) => o.text),
    ['one\nmore\n'],
  );
});

test('"run to here" stops at the first failure and then skips cells that already ran fine', async () => {
  const { room } = newRoom();
  const results = await Promise.all(room.runToHere(room.findCell(key(3))!));
  assert.deepEqual(
    results.map((r) => r.status),
    ['ok', 'error', 'aborted'],
  );
  const again = await Promise.all(room.runToHere(room.findCell(key(3))!));
  assert.equal(again.length, 2, 'cell a ran fine: only b and c are queued again');
  assert.equal(room.findCell({ key: 1 }), undefined);
  assert.equal(room.findCell('nope#1'), undefined);
});

test('a second reset while one runs is refused (409)', async () => {
  const { room } = newRoom();
  const first = room.reset();
  await assert.rejects(room.reset(), (e) => e instanceof RoomError && e.status === 409);
  await first;
});
