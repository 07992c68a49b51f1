// Shared by the attendee view and the instructor console: state, socket, rendering of cell outputs.
// Outputs live in an OutputStore (engines/notebook/live-outputs.ts, loaded as LabLiveOutputs), the
// model the site's live cells and the workshop server keep too: every kernel output message is applied
// as it came, so an update_display_data replaces its table in place, in whichever cell shows it.
'use strict';

const Workshop = (() => {
  const outputs = new LabLiveOutputs.OutputStore();
  const ansi = /\x1b\[[0-9;?]*[A-Za-z]/g;
  const el = (tag, attrs = {}, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (k === 'dataset') Object.assign(e.dataset, v);
      else e.setAttribute(k, v);
    }
    for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c);
    return e;
  };

  /** One Jupyter output as DOM. HTML runs in a sandboxed frame without scripts: outputs never execute in a browser. */
  function renderOutput(o) {
    const data = o.data || {};
    if (o.output_type === 'stream')
      return el('pre', {
        class: `out stream ${o.name || ''}`,
        text: LabLiveOutputs.terminalText(String(o.text || '')).replace(ansi, ''),
      });
    if (o.output_type === 'error') {
      const tb = (o.traceback || []).join('\n').replace(ansi, '');
      return el('pre', { class: 'out error', text: tb || `${o.ename}: ${o.evalue}` });
    }
    if (data['text/html']) {
      // allow-same-origin without allow-scripts: nothing in it runs, and the page can size it to its content.
      const frame = el('iframe', {
        class: 'out html',
        sandbox: 'allow-same-origin',
        srcdoc: String(data['text/html']),
        title: 'cell output',
      });
      frame.addEventListener('load', () => {
        try {
          frame.style.height = `${Math.min(frame.contentDocument.body.scrollHeight + 24, 600)}px`;
        } catch {
          frame.style.height = '240px'; // sandboxed without same-origin: no access, keep a fixed height
        }
      });
      // Also carry the plain text: searchable, and what tests and screen readers read.
      return el(
        'div',
        { class: 'out rich' },
        frame,
        data['text/plain'] ? el('pre', { class: 'out plain-alt', text: String(data['text/plain']) }) : null,
      );
    }
    if (data['image/png'])
      return el('img', { class: 'out', src: `data:image/png;base64,${data['image/png']}`, alt: 'cell output' });
    if (data['image/svg+xml'])
      return el('img', {
        class: 'out',
        src: `data:image/svg+xml;base64,${btoa(unescape(encodeURIComponent(data['image/svg+xml'])))}`,
        alt: 'cell output',
      });
    if (data['application/json'])
      return el('pre', { class: 'out', text: JSON.stringify(data['application/json'], null, 2) });
    if (data['text/plain'] !== undefined)
      return el('pre', { class: 'out plain', text: String(data['text/plain']).replace(ansi, '') });
    return el('pre', { class: 'out', text: `(${o.output_type} with ${Object.keys(data).join(', ') || 'no data'})` });
  }

  /** A full state from the server (first message of every connection): outputs included. */
  function load(state) {
    outputs.resetAll();
    for (const [key, c] of Object.entries(state.cells)) outputs.set(key, c.outputs || []);
  }

  /** Applies one broadcast message to the local copy of the state; says what changed (and which cells). */
  function apply(state, msg) {
    const cell = (key) => (state.cells[key] ??= { status: 'idle', executionCount: null });
    switch (msg.type) {
      case 'step':
        state.step = msg.step;
        state.timers = msg.timers;
        state.clockSkew = Date.now() - msg.now;
        return { what: 'step' };
      case 'cell': {
        const c = cell(msg.key);
        c.status = msg.status;
        c.executionCount = msg.executionCount;
        if (msg.clear) outputs.reset(msg.key);
        if (msg.source) c.source = msg.source;
        return { what: 'cell', keys: [msg.key] };
      }
      case 'output':
        // An update may change a display in another cell than the one running, or in several.
        return { what: 'cell', keys: outputs.apply(msg.key, msg.msgType, msg.content) };
      case 'kernel':
        state.kernel = msg.kernel;
        return { what: 'kernel' };
      case 'site':
        state.site = msg.site;
        state.siteProblem = msg.siteProblem;
        return { what: 'site' };
      case 'resetting':
        state.resetting = true;
        return { what: 'reset' };
      case 'reset':
        state.resetting = false;
        state.lastReset = msg.report;
        state.cells = {};
        outputs.resetAll();
        return { what: 'reset' };
    }
    return { what: undefined };
  }

  /** A socket that reconnects, and starts every connection with a full state (late joiners, dropped Wi-Fi). */
  function connect(path, onState, onMessage, onStatus) {
    let retry = 500;
    const open = () => {
      const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${path}`);
      ws.onopen = () => {
        retry = 500;
        onStatus('connected');
      };
      ws.onmessage = (ev) => {
        const msg = JSON.parse(ev.data);
        if (msg.type === 'state') {
          msg.state.clockSkew = Date.now() - msg.state.now;
          load(msg.state);
          onState(msg.state);
        } else onMessage(msg);
      };
      ws.onclose = (ev) => {
        onStatus(ev.code === 1008 ? `closed by the server: ${ev.reason}` : 'reconnecting…');
        if (ev.code !== 1008) setTimeout(open, (retry = Math.min(retry * 2, 5000)));
      };
    };
    open();
  }

  const fmt = (ms) => {
    const s = Math.max(0, Math.round(ms / 1000));
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
  };

  /** Time spent in a section so far, the current one still running. */
  function spent(state, i) {
    const t = state.timers;
    const extra = i === t.section ? Date.now() - (state.clockSkew || 0) - t.startedAt : 0;
    return t.spentMs[i] + extra;
  }

  function siteHref(state, section) {
    if (!state.site) return null;
    const page = section.page.startsWith('/') ? section.page : `/${section.page}`;
    const base = state.site.path.replace(/\/$/, '');
    return `${location.protocol}//${location.hostname}:${state.site.port}${base}${page}${section.anchor ? `#${section.anchor}` : ''}`;
  }

  function modeBadge(state) {
    return state.mode === 'rehearsal'
      ? el('span', {
          class: 'badge rehearsal',
          id: 'mode',
          dataset: { mode: 'rehearsal' },
          title: state.rehearsalReason || '',
          text: 'REHEARSAL — recorded outputs, nothing runs',
        })
      : el('span', { class: 'badge live', id: 'mode', dataset: { mode: 'live' }, text: 'LIVE — real kernel' });
  }

  function renderCell(state, c, extra) {
    const s = state.cells[c.key] || { status: 'idle', executionCount: null };
    const current = state.step.cell === c.key;
    return el(
      'div',
      { class: `cell ${s.status}${current ? ' current' : ''}`, dataset: { key: c.key, status: s.status } },
      el(
        'div',
        { class: 'cell-head' },
        el('span', { class: 'prompt', text: `[${s.executionCount ?? ' '}]` }),
        el('span', { class: 'cell-name', text: `${c.notebook} · cell ${c.index}${c.id ? ` (${c.id})` : ''}` }),
        el('span', {
          class: 'status',
          text:
            s.status === 'idle'
              ? ''
              : s.source === 'rehearsal' && s.status !== 'queued'
                ? `${s.status} (replayed)`
                : s.status,
        }),
        extra || null,
      ),
      el('pre', { class: 'source', text: c.source }),
      el('div', { class: 'outputs' }, outputs.outputs(c.key).map(renderOutput)),
    );
  }

  /** Redraws one cell in place (outputs stream in many small messages; the rest of the page stays put). */
  function redrawCell(state, key, extra) {
    const node = document.querySelector(`.cell[data-key="${CSS.escape(key)}"]`);
    if (!node) return false;
    const section = state.sections.find((s) => s.cells.some((c) => c.key === key));
    const c = section?.cells.find((x) => x.key === key);
    if (!c) return false;
    node.replaceWith(renderCell(state, c, extra?.(c)));
    return true;
  }

  return { el, renderOutput, apply, connect, fmt, spent, siteHref, modeBadge, renderCell, redrawCell };
})();
