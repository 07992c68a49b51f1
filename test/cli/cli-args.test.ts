/**
 * Every flag case of issue 13 item 10, through the real ./lab: one line and a non-zero exit for
 * bad input, never a stack trace; numbers decimal only and in range; paths are the caller's;
 * names escaped and cut; EPIPE ends quietly; record-crash refuses what it must not run and
 * leaves nothing behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { at } from '../../core/paths.ts';
import { run } from '../../core/proc.ts';
import { ManagedServer } from '../../engines/managed-server.ts';
import { eachAtOnce, within } from '../support/wait.ts';

interface LabRun {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** ./lab with `args`, as a user runs it; it does not block, so that runs can go side by side. */
function lab(args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<LabRun> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(
      at('lab'),
      args,
      {
        cwd: opts.cwd ?? at('.'),
        encoding: 'utf8',
        timeout: opts.timeoutMs ?? 60000,
        env: { ...process.env, LAB_DEBUG: '' },
      },
      (error, stdout, stderr) =>
        resolve({
          code: error ? (typeof error.code === 'number' ? error.code : null) : 0,
          stdout,
          stderr,
          ms: Date.now() - started,
        }),
    );
  });
}

/** Fails unless the run failed with exactly one [lab] line matching `re` on stderr and no stack. */
function refused(r: LabRun, re: RegExp, what: string): void {
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('[lab] ') && !/^\[lab\] [▸✓] /.test(l));
  assert.notEqual(r.code, 0, `${what}: exit 0 (stderr: ${r.stderr})`);
  assert.doesNotMatch(r.stderr + r.stdout, /^\s+at .*[:(]/m, `${what}: a stack trace reached the user:\n${r.stderr}`);
  assert.equal(lines.length, 1, `${what}: want one [lab] line, got:\n${r.stderr}`);
  assert.match(lines[0], re, what);
}

const usageCases: [string[], RegExp][] = [
  [['test', '--bogus', 'zzz'], /unknown flag "--bogus"/],
  [['test', 'zzz-no-such-test'], /no test file matches "zzz-no-such-test"/],
  [['build', 'no-such-target'], /unknown target "no-such-target".*pick from: server/],
  [['build', '--go='], /--go is empty/],
  [['build', '--go'], /--go needs a value/],
  [['run-app', '--go', '--addr=127.0.0.1:0'], /--go needs a value/],
  [['pairing', '--requests=1e12'], /--requests "1e12" is not a decimal whole number/],
  [['pairing', '--requests=abc'], /--requests "abc" is not a decimal whole number/],
  [['pairing', '--requests=-5'], /--requests -5 is out of range/],
  [['bench', '--only='], /--only is empty/],
  [['bench', '--only=ringbuf,'], /--only "ringbuf," has an empty item/],
  [['setup', 'extra'], /unexpected argument "extra"/],
  [['run-app', 'extra'], /unexpected argument "extra"/],
  [['run-tracer', 'extra'], /unexpected argument "extra"/],
  [['run-tracer', '--mode=bogus'], /--mode "bogus" is not one of its values.*uprobe, uretprobe, ret/],
  [['workshop', '--port=0x50'], /--port "0x50" is not a decimal whole number/],
  [['workshop', '--port=99999'], /--port 99999 is out of range/],
  [['start', '--site-port=abc'], /--site-port "abc" is not a decimal whole number/],
  [['start', '--jupyter-port=1.5'], /--jupyter-port "1.5" is not a decimal whole number/],
  [['crash-matrix', '--probe=bogus'], /--probe "bogus" is not one of its values/],
  [['crash-matrix', '--write=yes'], /--write takes no value/],
  [['doctor', '--jsn'], /unknown flag "--jsn" — its flags: --json/],
  [['record-crash', '--symbol=main.demo', '--symbol=main.gc'], /--symbol is given twice/],
  [['nope'], /unknown command "nope"/],
];

test('bad flags and stray arguments: one line, non-zero exit, before anything is set up or built', async () => {
  const runs = await eachAtOnce(usageCases, 4, ([args]) => lab(args));
  for (const [i, [args, re]] of usageCases.entries()) {
    const r = runs[i];
    refused(r, re, `./lab ${args.join(' ')}`);
    assert.doesNotMatch(
      r.stderr,
      /\[lab\] ▸ |installing/,
      `./lab ${args.join(' ')} started work before refusing: ${r.stderr}`,
    );
  }
});

test('workshop --host: localhost and ::1 are loopback (no consent asked), an unresolvable name is one line, another address asks for consent', async () => {
  // --port=8091 is refused right after the host check, so nothing starts.
  for (const host of ['localhost', '::1', '127.0.0.2'])
    refused(await lab(['workshop', `--host=${host}`, '--port=8091']), /port 8091 is reserved/, `--host=${host}`);
  refused(
    await lab(['workshop', '--host=no.such.host.invalid']),
    /--host "no\.such\.host\.invalid" does not resolve/,
    'unresolvable host',
  );
  refused(
    await lab(['workshop', '--host=10.1.2.3']),
    /--i-understand-attendees-reach-this-machine/,
    'a non-loopback host',
  );
});

test('run-tracer --pid: a process that does not run the binary is refused at once (it used to attach and wait forever)', async () => {
  const r = await lab(['run-tracer', `--pid=${process.pid}`], { timeoutMs: 20000 });
  refused(r, /process \d+ runs ".*node.*", not ".*server\/server"/, '--pid of this node process');
  refused(await lab(['run-tracer', '--pid=4194304']), /no process 4194304/, 'a pid that does not exist');
});

test('names are escaped and cut in messages: no terminal escapes, no 20 KB lines', async () => {
  const cases: [string, RegExp][] = [
    [
      `main.\x1b[31mred\x1b]0;title\x07`,
      /--symbol "main\.\\u001b\[31mred\\u001b\]0;title\\u0007" has control characters/,
    ],
    [`main.${'x'.repeat(20000)}`, /--symbol is 20005 characters long \("main\.x{35}…"\)/],
    // Past the parser, a name the tracer does not know is still shown escaped and cut.
    [`main.${'y'.repeat(3000)}`, /no function main\.y+/],
  ];
  for (const [symbol, re] of cases) {
    const r = await lab(['run-tracer', `--symbol=${symbol}`]);
    assert.doesNotMatch(r.stderr, /[\x1b\x07]/, 'a terminal escape reached the terminal');
    for (const line of r.stderr.split('\n')) assert.ok(line.length <= 600, `a ${line.length}-character line`);
    refused(r, re, `--symbol of ${symbol.length} characters`);
  }
});

test("a relative path is the caller's, not the repo root's", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lab-cwd-'));
  try {
    // server/server exists at the root; from dir, "server/server" names dir/server/server.
    const r = await lab(['run-tracer', '--binary=server/server', '--mode=uprobe'], { cwd: dir });
    refused(r, new RegExp(`no file at ${dir}/server/server`), 'relative --binary from another directory');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('record-crash: a missing binary is one line and leaves no temp dir; a non-Go binary is refused without running it; a crash recorded exits at once', async () => {
  const crashDirs = () =>
    readdirSync(tmpdir())
      .filter((f) => f.startsWith('lab-crash-'))
      .sort();
  const before = crashDirs();
  refused(await lab(['record-crash', '--binary=/nonexistent']), /no file at \/nonexistent/, 'missing binary');
  assert.deepEqual(crashDirs(), before, 'a temp dir was left behind');

  const dir = mkdtempSync(join(tmpdir(), 'lab-notgo-'));
  try {
    const marker = join(dir, 'it-ran');
    writeFileSync(
      join(dir, 'prog.c'),
      `#include <stdio.h>\nint main(void) { FILE *f = fopen("${marker}", "w"); if (f) fclose(f); return 0; }\n`,
    );
    await run('gcc', ['-o', join(dir, 'prog'), join(dir, 'prog.c')], { capture: true });
    refused(await lab(['record-crash', '--binary=prog'], { cwd: dir }), /prog is not a Go binary/, 'a C program');
    assert.ok(!existsSync(marker), 'record-crash ran a binary that is not a Go program');
    assert.deepEqual(crashDirs(), before, 'a temp dir was left behind');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  // The command used to wait out a 10 s timer after printing the forensics: time from its last output to its exit.
  const child = spawn(at('lab'), ['record-crash', '--json'], { cwd: at('.'), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let lastOutput = 0;
  child.stdout.on('data', (d) => {
    out += d;
    lastOutput = Date.now();
  });
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  const lingered = Date.now() - lastOutput;
  assert.equal(code, 0, err);
  assert.ok(JSON.parse(out).forensics, 'forensics in the JSON');
  assert.ok(lingered < 2000, `record-crash lingered ${lingered} ms after its output`);
  assert.deepEqual(crashDirs(), before, 'a temp dir was left behind');
});

test('run-tracer --json | head -3: the closed pipe ends the tracer quietly, exit 0, probes detached', async () => {
  await using srv = await ManagedServer.start();
  const tracer = spawn('sh', ['-c', `"${at('lab')}" run-tracer --mode=uprobe --json | head -3`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  tracer.stdout.on('data', (d) => (out += d));
  tracer.stderr.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => tracer.on('exit', (code) => r(code)));
  const deadline = Date.now() + 60000;
  while (!err.includes('attached') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.match(err, /attached/, err);
  for (let i = 1; i <= 10 && tracer.exitCode === null; i++) await srv.get(`/?arg=${i}`);
  const code = await within(exited, 20000, 'still running' as const);
  if (code === 'still running') tracer.kill('SIGKILL');
  assert.equal(code, 0, err);
  // `sh -c` reports head's status; the tracer's own end is in its last line and the absence of a stack.
  assert.equal(out.trim().split('\n').length, 3);
  assert.doesNotMatch(err, /EPIPE|^\s+at /m, err);
  assert.match(err, /^\[lab\] (detached|tracer stopped)/m, 'the tracer ended by itself');
});
