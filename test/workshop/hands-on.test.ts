/**
 * The hands-on room on the real kernel: two unprivileged attendees under JupyterHub, each crashing
 * their own Go server under a uretprobe through the probe service, neither able to touch the other.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import type { Kernel } from '@jupyterlab/services';
import { at } from '../../core/paths.ts';
import { roomAccounts, removeArchives } from '../../engines/services/accounts.ts';
import { linksHeldBy, uprobeSitesHeldBy } from '../../bpf/ts/index.ts';
import { startHandsOn, type HandsOnRoom } from '../../workshop/hands-on.ts';
import { startUserServer, userSessions } from '../../engines/services/hub-user.ts';
import { exercises, type Evidence, type Prediction, type Task } from '../../engines/exercises/index.ts';
import { explainLiveCrashCell } from '../support/cells.ts';
import { attemptCell } from '../../model/exercises/card.ts';
import { availableToolchains, buildDefaultServer, buildServer } from '../../core/go.ts';
import { loadHelpersCell } from '../../model/kernel-cells.ts';

let room: HandsOnRoom;
const kernels = new Map<string, Kernel.IKernelConnection>();
const managers: { dispose(): void }[] = [];
const tokens = new Map<string, string>();

function sh(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) =>
    execFile(cmd, args, { timeout: 20000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
    ),
  );
}

/** Runs a command as the attendee (as their notebook would). */
const asAttendee = (name: string, cmd: string) => sh('runuser', ['-u', name, '--', 'sh', '-c', cmd]);

/** Signs in as a browser does: the login form's _xsrf in the form and in its cookie. */
async function signIn(name: string, code: string): Promise<number> {
  const page = await fetch(`${room.hubUrl}hub/login`);
  const cookies = page.headers.getSetCookie().map((c) => c.split(';')[0]);
  const xsrf = /name="_xsrf" value="([^"]+)"/.exec(await page.text())?.[1] ?? '';
  if (!cookies.some((c) => c.startsWith('_xsrf='))) cookies.push(`_xsrf=${xsrf}`);
  const r = await fetch(`${room.hubUrl}hub/login?next=`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookies.join('; ') },
    body: new URLSearchParams({ username: name, password: code, _xsrf: xsrf }).toString(),
  });
  return r.status;
}

const startNotebookServer = (name: string) => startUserServer(room.hub, name, 'hands-on test');

async function kernelFor(
  name: string,
  token: string,
  notebook = '03-uretprobe-crash.ipynb',
): Promise<Kernel.IKernelConnection> {
  const { km, sm } = userSessions(room.hubUrl, name, token);
  managers.push(km, sm);
  // A session on the attendee's own copy of notebook 03: its kernel starts in that notebook's folder.
  const session = await sm.startNew({ path: notebook, type: 'notebook', name: notebook, kernel: { name: 'tslab' } });
  const k = session.kernel!;
  kernels.set(`${name} ${notebook}`, k);
  return k;
}

/** Runs code in a kernel; resolves with its text output and whether it raised. */
async function execute(k: Kernel.IKernelConnection, code: string): Promise<{ text: string; error?: string }> {
  let text = '';
  let error: string | undefined;
  const failed = (t: string) => /^(LabError|Error|TypeError|ReferenceError)\b/m.exec(t)?.[0];
  const future = k.requestExecute({ code, stop_on_error: true });
  future.onIOPub = (msg) => {
    const c = msg.content as { text?: string; data?: Record<string, string>; ename?: string; evalue?: string };
    if (msg.header.msg_type === 'stream') text += c.text;
    if (msg.header.msg_type === 'execute_result' || msg.header.msg_type === 'display_data')
      text += c.data?.['text/plain'] ?? c.data?.['text/html'] ?? '';
    if (msg.header.msg_type === 'error') error = `${c.ename}: ${c.evalue}`;
  };
  const reply = await future.done;
  const content = reply.content as { status?: string; ename?: string; evalue?: string };
  if (content.status === 'error') error ??= `the cell failed: ${content.ename ?? ''} ${content.evalue ?? ''}`.trim();
  // tslab prints a rejected top-level await on stderr rather than as an error message.
  error ??= failed(text)
    ? text.slice(text.search(/^(LabError|Error|TypeError|ReferenceError)\b/m)).split('\n')[0]
    : undefined;
  return { text, error };
}

const notebook03 = () =>
  (
    JSON.parse(readFileSync(at('notebooks', '03-uretprobe-crash.ipynb'), 'utf8')) as {
      cells: { cell_type: string; source: string[] | string }[];
    }
  ).cells
    .filter((c) => c.cell_type === 'code')
    .map((c) => (Array.isArray(c.source) ? c.source.join('') : c.source));

/** A raw client of the probe service, as any attendee program could write one. */
function serviceRequest(asUser: string, request: object): Promise<string> {
  const script = `const s=require('net').connect(${JSON.stringify(room.probeSocket)});s.write(${JSON.stringify(JSON.stringify(request))}+"\\n");let o='';s.on('data',d=>{o+=d;if(o.includes('\\n'))process.stdout.write(o,()=>process.exit(0))});setTimeout(()=>{process.stdout.write(o);process.exit(0)},5000)`;
  return asAttendee(asUser, `${process.execPath} -e ${JSON.stringify(script).replace(/\$/g, '\\$')}`).then(
    (r) => r.out,
  );
}

before(async () => {
  room = await startHandsOn({ attendees: 2, limits: { maxProbes: 3, maxEventsPerSecond: 500 }, log: () => {} });
});

after(async () => {
  for (const k of kernels.values()) await k.shutdown().catch(() => {});
  for (const km of managers) km.dispose();
  // What two notebooks, the exercises' servers and a notebook server took: the room's default limits must hold it.
  for (const a of room?.attendees ?? []) {
    const u = a.sandbox.usage();
    console.log(`${a.account.name}: peak memory ${(u.memoryPeakBytes / 2 ** 20).toFixed(0)} MB in their sandbox`);
  }
  await room?.stop();
  if (room) await removeArchives(room.archiveDir);
  assert.deepEqual(roomAccounts(room?.room ?? ''), [], 'no attendee account of this room left');
  assert.equal(linksHeldBy(process.pid).length, 0, 'no link left in this process');
});

test('attendees sign in with their own code only', async () => {
  const [a, b] = room.attendees;
  assert.equal(await signIn(a.account.name, a.code), 302, 'right code signs in');
  assert.notEqual(await signIn(a.account.name, b.code), 302, "another attendee's code does not");
  assert.notEqual(await signIn('root', a.code), 302, 'root cannot sign in');
});

test('each attendee crashes their own server under a uretprobe, the other keeps answering', {
  timeout: 300_000,
}, async () => {
  const [a, b] = room.attendees;
  tokens.set(a.account.name, await startNotebookServer(a.account.name));
  tokens.set(b.account.name, await startNotebookServer(b.account.name));
  const ka = await kernelFor(a.account.name, tokens.get(a.account.name)!);
  const kb = await kernelFor(b.account.name, tokens.get(b.account.name)!);
  const whoami = await execute(ka, 'require("node:os").userInfo().username');
  assert.match(whoami.text, new RegExp(a.account.name), 'the notebook kernel runs as the attendee');

  const cells = notebook03();
  let outA = '';
  for (const code of cells.slice(0, -1)) {
    const r = await execute(ka, code);
    assert.equal(r.error, undefined, `attendee A, cell:\n${code}\n→ ${r.error}\n${r.text}`);
    outA += r.text;
  }
  assert.match(outA, /unexpected return pc/, 'the crash text of their own server');
  // B's room server (their uid, their port) answers while A's crashed.
  const answer = await fetch(`http://127.0.0.1:${b.serverPort}/?arg=5`).then(
    (r) => r.status,
    () => 0,
  );
  assert.equal(answer, 200, "the other attendee's server keeps answering");
  // B runs the same story in their kernel: their own crash, independent of A's.
  let outB = '';
  for (const code of cells.slice(0, -1)) outB += (await execute(kb, code)).text;
  assert.match(outB, /unexpected return pc/);
  const view = await room.roomView();
  for (const s of view)
    assert.ok(
      s.crashedUnder.some((c) => c.startsWith('uretprobe')),
      `room view shows ${s.name}'s crash: ${JSON.stringify(s)}`,
    );
});

test('the probe service refuses what is not the attendee’s, with a clear message', { timeout: 120_000 }, async () => {
  const [a, b] = room.attendees;
  const bServer = room.attendees[1].serverPid!;
  const refuseOther = await serviceRequest(a.account.name, {
    op: 'attach',
    id: 1,
    kind: 'uprobe',
    symbol: 'main.demo',
    pid: bServer,
  });
  assert.match(refuseOther, /not yours/);
  assert.match(
    await serviceRequest(a.account.name, { op: 'attach', id: 1, kind: 'uprobe', symbol: 'main.demo', pid: 1 }),
    /not yours/,
    'a root process',
  );
  assert.match(
    await serviceRequest(a.account.name, { op: 'attach', id: 1, kind: 'uprobe', symbol: 'main.demo', pid: 999999 }),
    /no process 999999/,
  );
  assert.match(
    await serviceRequest(a.account.name, {
      op: 'attach',
      id: 1,
      kind: 'uprobe',
      symbol: 'main.demo',
      pid: room.attendees[0].serverPid!,
      object: 'AAAA',
    }),
    /only the lab's own BPF programs/,
  );
  // More probes than the cap, on A's own server, in one connection.
  const own = room.attendees[0].serverPid!;
  const s = connect(room.probeSocket);
  const lines: string[] = [];
  createInterface({ input: s }).on('line', (l) => lines.push(l));
  // root connecting through the gate is refused too: the service only probes the caller's processes.
  s.write(JSON.stringify({ op: 'attach', id: 1, kind: 'uprobe', symbol: 'main.demo', pid: own }) + '\n');
  for (let i = 0; i < 400 && lines.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
  s.destroy();
  assert.match(lines.join('\n'), /not yours/, 'even root gets only its own processes through the service');
  const capScript = [1, 2, 3, 4].map((id) => ({ op: 'attach', id, kind: 'uprobe', symbol: 'main.demo', pid: own }));
  const script = `const s=require('net').connect(${JSON.stringify(room.probeSocket)});let out='';const done=()=>{process.stdout.write(out,()=>process.exit(0))};s.on('data',d=>{out+=d;if((out.match(/"op":"(attached|error)"/g)||[]).length>=${capScript.length})done()});for(const r of ${JSON.stringify(capScript)})s.write(JSON.stringify(r)+"\\n");setTimeout(done,30000)`;
  const cap = await asAttendee(
    a.account.name,
    `${process.execPath} -e ${JSON.stringify(script).replace(/\$/g, '\\$')}`,
  );
  assert.equal((cap.out.match(/"op":"attached"/g) ?? []).length, 3, cap.out);
  assert.match(cap.out, /cap is 3/);
  // The kernel refuses the rest: no bpftool, no other home, no signals to the other's processes.
  assert.notEqual((await asAttendee(a.account.name, 'bpftool prog show')).code, 0, 'bpftool refused');
  assert.notEqual(
    (await asAttendee(a.account.name, `ls ${b.account.home}`)).code,
    0,
    "another attendee's home refused",
  );
  assert.notEqual(
    (await asAttendee(a.account.name, `kill -0 ${bServer}`)).code,
    0,
    "signalling another attendee's process refused",
  );
});

test("an attendee's probes go when their kernel does, the other's keep streaming", { timeout: 180_000 }, async () => {
  const [a, b] = room.attendees;
  // The notebook kernels that crashed their first servers above: they start new ones.
  const ka = kernels.get(`${a.account.name} 03-uretprobe-crash.ipynb`)!;
  const kb = kernels.get(`${b.account.name} 03-uretprobe-crash.ipynb`)!;
  const attachCode = (name: string) =>
    `const srv = await lab.startServer("${name}"); const ex = await lab.traced(srv); const pr = await lab.attach("${name}-probe", () => ex.returnProbes("main.demo", { pid: srv.pid })); const tb = lab.eventTable(pr); await lab.request(srv, "/?arg=7"); await tb.waitFor((e) => e.kind === "call"); console.log("calls", tb.events.length);`;
  for (const [k, name] of [
    [ka, 'ra'],
    [kb, 'rb'],
  ] as const) {
    const r = await execute(k, attachCode(name));
    assert.equal(r.error, undefined, r.text);
  }
  const before = room.service.roomActivity();
  assert.ok(before.find((x) => x.uid === a.account.uid)!.probes.length >= 1);
  await ka.shutdown();
  kernels.delete(`${a.account.name} 03-uretprobe-crash.ipynb`);
  for (let i = 0; i < 50 && room.service.roomActivity().find((x) => x.uid === a.account.uid)!.probes.length; i++)
    await new Promise((r) => setTimeout(r, 200));
  assert.equal(
    room.service.roomActivity().find((x) => x.uid === a.account.uid)!.probes.length,
    0,
    "A's probes released with A's kernel",
  );
  const more = await execute(
    kb,
    `await lab.request(srv, "/?arg=9"); await tb.waitFor((e) => e.kind === "call" && String(e.args[0]) === "9"); console.log("still streaming")`,
  );
  assert.match(more.text, /still streaming/, `${more.error ?? ''}`);
});

/** What each "do it" starter (the cell as the notebook ships it) must fail with, as an attendee too. */
const starterFails: Record<string, RegExp> = {
  '02-read-the-string': /none carries the string/,
  '03-kill-the-server': /is still alive/,
  '03-smallest-crashing-arg': /arg=1999 crashes it too/,
  '05-survive-growth': /the server died: unexpected return pc for main\.demo/,
  '05-survive-panic': /the server died: unexpected return pc for main\.panicThrough/,
  '06-which-ret': /carry no RET #/,
  '07-go-version-matters': /stack-growth crashes under a uretprobe on go1\.\d+\.\d+ too/,
};

/** Processes of `uid` running a check's private server copy (from the process table). */
function checkServersOf(uid: number): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .map(Number)
    .filter((pid) => {
      try {
        return (
          Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) === uid &&
          /lab-exercise-/.test(readlinkSync(`/proc/${pid}/exe`))
        );
      } catch {
        return false;
      }
    });
}

test("every exercise's check, in an attendee's kernel through the probe service: solutions pass, starters and wrong answers fail, nothing is left", {
  timeout: 240_000,
}, async () => {
  const a = room.attendees[0];
  for (const tc of await availableToolchains()) await buildServer(tc); // the checks build nothing as the attendee
  await buildDefaultServer();
  const k = await kernelFor(a.account.name, tokens.get(a.account.name)!, '06-inlining-and-traps.ipynb');
  const run = async (code: string) => {
    const r = await execute(k, code);
    assert.equal(r.error, undefined, `${code}\n→ ${r.error}\n${r.text}`);
    return r.text;
  };
  /** After a check: the service holds nothing for the attendee, the kernel no site on a check's copy, no check server runs. */
  const nothingLeft = (what: string) => {
    const act = room.service.roomActivity().find((x) => x.uid === a.account.uid);
    assert.deepEqual(act?.probes ?? [], [], `${what}: the service still holds probes for ${a.account.name}`);
    assert.equal(act?.closing ?? 0, 0, `${what}: the service is still detaching probes for ${a.account.name}`);
    assert.deepEqual(
      uprobeSitesHeldBy(process.pid).filter((x) => /lab-exercise-/.test(x.path)),
      [],
      `${what}: the kernel still has a site on a check's server`,
    );
    assert.deepEqual(checkServersOf(a.account.uid), [], `${what}: check servers left running`);
  };
  await run(loadHelpersCell);
  assert.match(
    await run('console.log(process.getuid(), process.env.LAB_PROBE_SERVICE)'),
    new RegExp(`^${a.account.uid} \\S+probe\\.sock`),
    'the checks run unprivileged, through the service',
  );

  const tasks = exercises.filter((e): e is Task => e.kind === 'do');
  assert.deepEqual(
    tasks.map((e) => e.name).sort(),
    Object.keys(starterFails).sort(),
    'each "do it" exercise has its starter failure here',
  );
  for (const ex of tasks) {
    const solved = await run(attemptCell(ex.name, ex.solution));
    assert.match(solved, new RegExp(`✓ pass · ${ex.name}: `), solved);
    nothingLeft(`${ex.name} solution`);
    const starter = await run(attemptCell(ex.name, ex.starter));
    assert.match(starter, new RegExp(`✗ not yet · ${ex.name}: .*${starterFails[ex.name].source}`), starter);
    nothingLeft(`${ex.name} starter`);
    if (ex.name === '06-which-ret')
      assert.match(
        solved,
        /the kernel probes 7 sites/,
        'the sites read from the fdinfo of the links the service holds for the attendee',
      );
  }
  for (const ex of exercises.filter((e): e is Prediction => e.kind === 'predict')) {
    const other = ex.choices.find((c) => c.id !== ex.answer)!.id;
    const right = await run(`await lab.predict("${ex.name}", "${ex.answer}");\nawait lab.check("${ex.name}");`);
    assert.match(right, new RegExp(`✓ pass · ${ex.name}: right: ${ex.answer}\\)`), right);
    nothingLeft(`${ex.name} right answer`);
    const wrong = await run(
      `await lab.resetExercises("${ex.name}");\nawait lab.predict("${ex.name}", "${other}");\nawait lab.check("${ex.name}");`,
    );
    assert.match(
      wrong,
      new RegExp(`✗ not yet · ${ex.name}: you said ${other}\\) .*; this machine shows ${ex.answer}\\)`),
      wrong,
    );
    nothingLeft(`${ex.name} wrong answer`);
  }
  // Explain the evidence: the attendee's own live crash, made through the service, pointed at with the catalog's solution.
  const evidence = exercises.find((e): e is Evidence => e.kind === 'explain')!;
  const explained = await run(explainLiveCrashCell(evidence));
  assert.match(
    explained,
    new RegExp(`✓ pass · ${evidence.name}: 0x[0-9a-f]+ held 0x7fffffffe000, main\\.demo's return address`),
    explained,
  );
  assert.match(explained, new RegExp(`✗ not yet · ${evidence.name}: the slot is right, the frame is wrong`), explained);
  nothingLeft(evidence.name);
  await k.shutdown();
  kernels.delete(`${a.account.name} 06-inlining-and-traps.ipynb`);
});

test("a probe's kernel view through the service: the fdinfo sites of its own links, nobody else's; at the cap a check says so", {
  timeout: 90_000,
}, async () => {
  const a = room.attendees[0];
  const k = await kernelFor(a.account.name, tokens.get(a.account.name)!, '06-inlining-and-traps.ipynb');
  const r = await execute(
    k,
    [
      loadHelpersCell,
      'const srv = await lab.startServer("sites");',
      'const ex = await lab.traced(srv);',
      'const pr = await lab.attach("sites-probe", () => ex.returnProbes("main.classify", { pid: srv.pid }));',
      'const sites = await pr.kernelSites();',
      'console.log("rets", JSON.stringify(ex.retSites("main.classify").sites.map((s) => s.fileOffset)));',
      'console.log("kernel", JSON.stringify(sites.filter((s) => s.retSite !== 0xffff).map((s) => s.offset)), sites.every((s) => s.path === srv.binary));',
      'pr.close(); await pr.detached;',
      'console.log("after", (await pr.kernelSites()).length);',
      'await lab.resetLab();',
    ].join('\n'),
  );
  assert.equal(r.error, undefined, r.text);
  const rets = /^rets (.*)$/m.exec(r.text)?.[1];
  assert.ok(rets && JSON.parse(rets).length === 6, r.text);
  assert.match(
    r.text,
    new RegExp(`^kernel ${rets!.replace(/[[\]]/g, '\\$&')} true$`, 'm'),
    "the kernel probes every RET of classify, on the attendee's own server copy",
  );
  assert.match(r.text, /^after 0$/m, 'closed and detached: the kernel holds nothing for it');
  // Another attendee's connection asking for probe ids gets only its own (none).
  assert.match(
    await serviceRequest(room.attendees[1].account.name, { op: 'sites', id: 1 }),
    /"op":"sites","id":1,"sites":\[\]/,
  );
  // At the service's cap (3 in this room) a check says so, for the attempt's probe and for its own.
  const full = await execute(
    k,
    [
      'const held = await lab.startServer("cap");',
      'const hx = await lab.traced(held);',
      'for (const n of [1, 2, 3]) await lab.attach(`cap-${n}`, () => hx.uprobe("main.demo", { pid: held.pid }));',
      attemptCell('05-survive-panic', (exercises.find((e) => e.name === '05-survive-panic') as Task).solution),
      'await lab.resetExercises("02-arg-register");',
      'await lab.predict("02-arg-register", "a");',
      'await lab.check("02-arg-register");',
      'await lab.resetLab();',
    ].join('\n'),
  );
  assert.equal(full.error, undefined, full.text);
  assert.match(
    full.text,
    /✗ not yet · 05-survive-panic: your probe was not attached: probe service: you already hold 3 probes \(the cap is 3\)/,
  );
  assert.match(
    full.text,
    /✗ not yet · 02-arg-register: the check could not run: probe service: you already hold 3 probes \(the cap is 3\)/,
  );
  const act = room.service.roomActivity().find((x) => x.uid === a.account.uid);
  assert.deepEqual(
    [act?.probes.length, act?.closing],
    [0, 0],
    'resetLab released the probes the service held for the kernel',
  );
  await k.shutdown();
  kernels.delete(`${a.account.name} 06-inlining-and-traps.ipynb`);
});

test('the room view: each attendee, their crash and exercises; refused without its token; reset releases one attendee', {
  timeout: 120_000,
}, async () => {
  const { startRoomView } = await import('../../workshop/room-view.ts');
  const view = await startRoomView(room);
  try {
    const bare = view.url.replace(/\?token=.*/, 'room.json');
    assert.equal((await fetch(bare)).status, 401);
    assert.equal((await fetch(`${bare}?token=wrong`)).status, 401);
    const states = (await (await fetch(view.url.replace('/?', '/room.json?'))).json()) as {
      name: string;
      goServers: number[];
      crashedUnder: string[];
    }[];
    assert.deepEqual(states.map((s) => s.name).sort(), room.attendees.map((a) => a.account.name).sort());
    const b = room.attendees[1];
    const reset = await fetch(view.url.replace('/?', '/reset?') + `&name=${b.account.name}`, {
      method: 'POST',
      redirect: 'manual',
    });
    assert.equal(reset.status, 303);
    assert.equal(
      room.service.roomActivity().find((x) => x.uid === b.account.uid)?.probes.length ?? 0,
      0,
      "B's probes released by the reset",
    );
    for (
      let i = 0;
      i < 50 &&
      (await fetch(`http://127.0.0.1:${b.serverPort}/?arg=1`).then(
        (r) => r.status,
        () => 0,
      )) !== 200;
      i++
    )
      await new Promise((r) => setTimeout(r, 200));
    assert.equal(
      await fetch(`http://127.0.0.1:${b.serverPort}/?arg=1`).then(
        (r) => r.status,
        () => 0,
      ),
      200,
      "B's room server is started again",
    );
  } finally {
    await view.stop();
  }
});

test('two attendees under a bounded load: each gets only their own events, and what the cap dropped is counted', {
  timeout: 180_000,
}, async () => {
  // Each /?arg=100 makes 101 nested main.growStack calls in a burst, so every attendee's events
  // outrun the 500/s cap however fast this machine serves requests.
  const requests = 120;
  const callsPerRequest = 101;
  const load = (a: (typeof room.attendees)[number]) => {
    const script = `
const { remoteProbe } = require(${JSON.stringify(at('node_modules', 'tsx', 'dist', 'cjs', 'api', 'index.cjs'))}).require(${JSON.stringify(at('bpf', 'ts', 'probe-service-client.ts'))}, __filename);
(async () => {
  const p = remoteProbe(${JSON.stringify(room.probeSocket)}, 'ret', 'main.growStack', { pid: ${a.serverPid} });
  await p.ready;
  const pids = new Set(); let calls = 0;
  (async () => { for await (const b of p.batches()) for (const e of b) if (e.kind === 'call') { calls++; pids.add(e.pid); } })();
  let next = 0;
  const worker = async () => { while (next < ${requests}) { next++; await fetch('http://127.0.0.1:${a.serverPort}/?arg=100').then((r) => r.text()); } };
  await Promise.all(Array.from({ length: 8 }, worker));
  await new Promise((r) => setTimeout(r, 2500));
  console.log(JSON.stringify({ calls, drops: p.drops(), pids: [...pids] }));
  p.close(); process.exit(0);
})().catch((e) => { console.log(JSON.stringify({ error: e.message })); process.exit(1); });`;
    return sh('runuser', ['-u', a.account.name, '--', process.execPath, '-e', script]);
  };
  const results = await Promise.all(room.attendees.map(load));
  results.forEach((r, i) => {
    const a = room.attendees[i];
    const line = r.out.trim().split('\n').pop()!;
    const got = JSON.parse(line) as { calls: number; drops: number; pids: number[]; error?: string };
    assert.equal(got.error, undefined, line);
    assert.deepEqual(got.pids, [a.serverPid], `${a.account.name} saw only their own server's events`);
    assert.equal(
      got.calls + got.drops,
      requests * callsPerRequest,
      `${a.account.name}: every call delivered or counted as dropped (${line})`,
    );
    assert.ok(got.drops > 0, `the 500/s cap dropped some and said so (${line})`);
  });
});
