// Errors in the cell's own words, for the lab's tslab kernel (engines/services/tslab-kernel.cjs installs
// this before tslab starts). tslab prints a failing cell's exception with console.error: Node's source
// excerpt of the throwing line, then frames of the compiled cell ("evalmachine.<anonymous>:7"),
// tslab and Jupyter. Instead the kernel sends a Jupyter error message:
//   - a runtime error: "TypeError: …" first, then "at line 3, column 7 of this cell" (the line of the
//     cell's TypeScript, found from the compiled JavaScript), then the lab's own frames;
//   - a LabError (core/errors.ts): its one line, what went wrong — what to do;
//   - an interrupt: that the cell was interrupted, and what it had kept in the helpers' registry
//     (kernel-helpers/registry.ts), released now.
'use strict';
const { join } = require('node:path');

/** Shared with kernel-helpers/registry.ts: the number of the cell run now, and the registry. */
const RUN = Symbol.for('go-uretprobe-lab.cell-run');
const REGISTRY = Symbol.for('go-uretprobe-lab.kernel-registry');
/** A stream name no cell writes: what the kernel sends as an error message instead. */
const ERROR_STREAM = 'go-uretprobe-lab-error';

const isError = (e) => e instanceof Error || (e && typeof e === 'object' && typeof e.stack === 'string');

/** tslab and Node machinery: never the learner's or the lab's code. */
const machinery = (frame) =>
  /node_modules[\\/]tslab[\\/]|cell-errors\.cjs|\(node:|^\s*at node:|\bat (sigintHandlersWrap|Script\.runInThisContext)\b/.test(
    frame,
  );

/**
 * Where `js` (a line of the compiled cell) came from in the cell's TypeScript `src`: tslab compiles
 * without a source map, so the line is found by its text — references to the cell's top-level
 * names read `exports.name` and a last expression `exports.tsLastExpr = …` in the JavaScript.
 * Returns 1-based { line, column } or undefined.
 */
function cellPosition(src, js, column) {
  let text = js;
  let col = column - 1;
  for (const drop of [/^(\s*)exports\.tsLastExpr = /, /\bexports\./g]) {
    let shift = 0;
    text = text.replace(drop, (m, ...rest) => {
      const at = rest[rest.length - 2];
      const kept = typeof rest[0] === 'string' ? rest[0] : '';
      if (at < col) shift += Math.min(m.length - kept.length, col - at - kept.length);
      return kept;
    });
    col -= shift;
  }
  const lines = src.split('\n');
  const find = (needle) => {
    if (!needle.trim()) return undefined;
    for (let i = 0; i < lines.length; i++) {
      const k = lines[i].indexOf(needle);
      if (k >= 0) return { i, k };
    }
    return undefined;
  };
  const trimmed = text.trim();
  const whole = find(trimmed);
  if (whole) return { line: whole.i + 1, column: whole.k + (col - text.indexOf(trimmed)) + 1 };
  // Types stripped or the line re-printed: find the code from the error's column on, then less of it.
  const rest = text.slice(col).replace(/;\s*$/, '');
  for (const piece of [rest, rest.split(/[,;]/)[0], (/^[\w$.]+/.exec(rest) ?? [''])[0]]) {
    const hit = piece.length >= 3 ? find(piece) : undefined;
    if (hit) return { line: hit.i + 1, column: hit.k + 1 };
  }
  return undefined;
}

/** The Jupyter error message content for an exception of the cell `cell` ({ src, output, prefix }). */
function errorContent(e, cell) {
  const name = String(e.name || 'Error');
  const message = String(e.message ?? e);
  if (name === 'LabError') return { ename: name, evalue: message, traceback: [message] };
  const frames = String(e.stack || '')
    .split('\n')
    .filter((l) => /^\s+at /.test(l));
  const out = [];
  let where;
  const js = (cell.output || '').split('\n');
  for (const f of frames) {
    if (machinery(f)) continue;
    const m = /evalmachine\.<anonymous>:(\d+):(\d+)/.exec(f);
    if (!m) {
      out.push(f);
      continue;
    }
    const n = Number(m[1]);
    const c = Number(m[2]) - (n === 1 ? cell.prefix : 0);
    const pos = n <= js.length ? cellPosition(cell.src, js[n - 1], c) : undefined;
    if (!pos) continue; // the wrapper tslab puts around a cell, or code of an earlier cell
    const fn = /^\s+at ([^\s(]+) \(/.exec(f)?.[1];
    const line = `    at line ${pos.line}, column ${pos.column} of this cell${fn && fn !== 'async' ? ` (in ${fn})` : ''}`;
    where ??= line;
    out.push(line);
  }
  const head = `${name}: ${message}`;
  return {
    ename: name,
    evalue: message,
    traceback: [head, ...(where ? [where] : []), ...out.filter((l) => l !== where)],
  };
}

/** The interrupt: what the cell kept in the registry is released; the message says what. */
function interruptContent() {
  const registry = globalThis[REGISTRY];
  const run = globalThis[RUN]?.run;
  let released = [];
  try {
    released = registry?.releaseRun ? registry.releaseRun(run) : [];
  } catch {
    // the message below still says the cell stopped
  }
  const what = released.length
    ? `released what it had kept: ${released.join(', ')}`
    : 'it had kept nothing in the lab’s registry, so nothing was released';
  const evalue = `this cell was interrupted — ${what}`;
  return { ename: 'Interrupted', evalue, traceback: [`Interrupted: ${evalue}`] };
}

const isInterrupt = (e) =>
  /^(Interrupted asynchronously|Script execution was interrupted by `SIGINT`)/.test(String(e?.message ?? ''));

/**
 * tslab runs each cell with vm's breakOnSigint. A SIGINT listener first added while such a script runs
 * (the tracer adds one when a cell opens its first probe) leaves SIGINT at its default action once
 * the script returns (Node 20): the next Interrupt would kill the kernel instead of reaching tslab.
 * After each such run the listeners are added afresh, which installs the handler again.
 */
function rearmSigintAfterCells() {
  const vm = require('node:vm');
  const run = vm.runInThisContext;
  vm.runInThisContext = function (code, options) {
    try {
      return run.call(this, code, options);
    } finally {
      if (options?.breakOnSigint) {
        const listeners = process.rawListeners('SIGINT');
        process.removeAllListeners('SIGINT');
        for (const l of listeners) process.on('SIGINT', l);
      }
    }
  };
}

/** Installs the kernel's error reporting into tslab's modules in node_modules/tslab/dist. */
function install(tslabDist) {
  const executor = require(join(tslabDist, 'executor.js'));
  rearmSigintAfterCells();
  const jupyter = require(join(tslabDist, 'jupyter.js'));

  // The write function of the execution running now (tslab runs one at a time).
  let writeStream = null;
  const handleExecuteImpl = jupyter.JupyterHandlerImpl.prototype.handleExecuteImpl;
  jupyter.JupyterHandlerImpl.prototype.handleExecuteImpl = function (req, write, display) {
    writeStream = write;
    const state = (globalThis[RUN] ??= { run: 0 });
    state.run++;
    return handleExecuteImpl.call(this, req, write, display);
  };
  // A stream under ERROR_STREAM leaves as an error message (ename, evalue, traceback) of the same cell.
  const handleExecute = jupyter.ZmqServer.prototype.handleExecute;
  jupyter.ZmqServer.prototype.handleExecute = function (sock, msg) {
    const createReply = msg.createReply;
    msg.createReply = function () {
      const reply = createReply.call(this);
      const signAndSend = reply.signAndSend;
      reply.signAndSend = function (key, s) {
        if (this.header.msg_type === 'stream' && this.content?.name === ERROR_STREAM) {
          this.header.msg_type = 'error';
          this.content = JSON.parse(this.content.text);
        }
        return signAndSend.call(this, key, s);
      };
      return reply;
    };
    return handleExecute.call(this, sock, msg);
  };

  const createExecutor = executor.createExecutor;
  executor.createExecutor = (rootDir, convs, console) => {
    // The cell being run, as written and as compiled: to map the compiled line back.
    let cell = { src: '', output: '', prefix: 0 };
    const convert = convs.node.convert;
    convs.node.convert = function (prevDecl, src) {
      const r = convert.call(this, prevDecl, src);
      // tslab wraps the output in one line: "(async function(exports, require) { " or without async.
      const prefix = r.hasToplevelAwait ? '(async function(exports, require) { ' : '(function(exports, require) { ';
      cell = { src, output: r.output || '', prefix: prefix.length };
      return r;
    };
    const error = (...args) => {
      if (args.length !== 1 || !isError(args[0]) || !writeStream) return console.error(...args);
      let content;
      try {
        content = isInterrupt(args[0]) ? interruptContent() : errorContent(args[0], cell);
      } catch {
        return console.error(...args);
      }
      writeStream(ERROR_STREAM, JSON.stringify(content));
    };
    return createExecutor(rootDir, convs, { ...console, error });
  };
}

module.exports = { install, cellPosition, errorContent };
