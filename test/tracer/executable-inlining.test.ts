/**
 * `./lab inlining`: the compiler's -gcflags=-m decisions joined with the binary's symbols and
 * DWARF, for the default Go and Go 1.19.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { at } from '../../core/paths.ts';
import { oldGo } from '../../core/go.ts';
import type { InliningSummary } from '../../cli/commands/inlining.ts';

const lab = (...args: string[]) =>
  execFileSync(at('lab'), args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** file:line of the first server line containing `text`. */
function sourceLine(file: string, text: string): string {
  const i = readFileSync(at('server', file), 'utf8')
    .split('\n')
    .findIndex((l) => l.includes(text));
  assert.ok(i >= 0, `server/${file} no longer contains ${text}`);
  return `${file}:${i + 1}`;
}

for (const go of [undefined, oldGo]) {
  test(`./lab inlining --json${go ? ' --go=go1.19' : ''}: addOne inlined away, square partly inlined, noinline functions absent`, () => {
    const s = JSON.parse(lab('inlining', '--json', ...(go ? [`--go=${go}`] : []))) as InliningSummary;
    if (go) assert.match(s.goVersion, /^go1\.19/);
    const fn = (name: string) =>
      s.functions.find((f) => f.name === name) ?? assert.fail(`${name} missing from ${s.functions.map((f) => f.name)}`);

    const addOne = fn('main.addOne');
    assert.equal(addOne.status, 'inlined away');
    assert.equal(addOne.symbol, undefined);
    assert.ok(addOne.inlinedInto.length > 0);
    assert.ok(addOne.callSites.includes(sourceLine('handlers.go', 'addOne(n)')), `call sites ${addOne.callSites}`);
    assert.equal(addOne.declaredAt, sourceLine('triggers.go', 'func addOne('));

    const square = fn('main.square');
    assert.equal(square.status, 'partly inlined');
    assert.ok(square.symbol && square.symbol.size > 0);
    assert.ok(square.inlinedInto.length > 0);

    for (const f of s.functions) {
      assert.equal(
        Boolean(f.symbol),
        f.status === 'partly inlined' || f.status === 'kept out of line',
        `${f.name}: ${f.status}`,
      );
    }
    for (const noinline of ['main.demo', 'main.classify', 'main.wordStats']) {
      assert.ok(!s.functions.some((f) => f.name === noinline), `${noinline} is //go:noinline`);
    }
    assert.ok(s.inlinedCalls.some((c) => c.callee === 'main.addOne'));
  });
}

test('./lab inlining prints the decisions and what they mean for probes', () => {
  const out = lab('inlining');
  assert.match(out, /^Inlining in server built by go1\.\d+/);
  assert.match(
    out,
    /^ {2}main\.addOne +inlined away +no symbol to probe: its body was copied into main\.\S+(, main\.\S+)* — probe that, or add \/\/go:noinline$/m,
  );
  assert.match(
    out,
    /^ {2}main\.square +partly inlined +probe-able at 0x[0-9a-f]+, but calls inside main\.\S+ run a copy and are not traced$/m,
  );
  assert.match(lab('help'), /^ {2}inlining /m);
});

test('./lab inlining with a Go that does not exist fails with one line and exit code 1', () => {
  assert.throws(
    () => lab('inlining', '--go=/nonexistent/bin/go'),
    (e: { status: number; stderr: string }) =>
      e.status === 1 &&
      /^\[lab\] [^\n]*no Go at \/nonexistent\/bin\/go[^\n]*\n?$/.test(e.stderr.replace(/^\[lab\] [▸✗].*\n/gm, '')),
  );
});
