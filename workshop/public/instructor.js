// Instructor console. Every action is an HTTP call that carries the token; the server checks it each time.
'use strict';
(() => {
  const { el, apply, connect, fmt, spent, siteHref, modeBadge, renderCell, redrawCell } = Workshop;
  const token = new URLSearchParams(location.search).get('token') || '';
  let state = null;
  const $ = (id) => document.getElementById(id);

  async function act(path, body = {}) {
    const res = await fetch(`/instructor/${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });
    const reply = await res.json().catch(() => ({}));
    if (!res.ok) showError(`${path}: ${reply.error || res.status}`);
    return reply;
  }

  function showError(text) {
    const b = $('banner');
    b.hidden = false;
    b.className = 'banner error';
    b.textContent = text;
  }

  /** Steps are (section, page) then (section, each cell) in order. */
  function steps() {
    return state.sections.flatMap((s, i) => [
      { section: i, cell: null },
      ...s.cells.map((c) => ({ section: i, cell: c.key })),
    ]);
  }
  function move(delta) {
    const all = steps();
    const at = all.findIndex((s) => s.section === state.step.section && s.cell === state.step.cell);
    const to = all[Math.min(all.length - 1, Math.max(0, at + delta))];
    act('step', to);
  }

  function renderTimers() {
    for (const li of document.querySelectorAll('#sections li')) {
      const i = Number(li.dataset.index);
      const s = state.sections[i];
      const ms = spent(state, i);
      const t = li.querySelector('.timer');
      t.textContent = `${fmt(ms)} / ${s.minutes}:00`;
      t.classList.toggle('over', ms > s.minutes * 60_000);
    }
  }

  function render(changed) {
    if (!state) return;
    $('title').textContent = `${state.title} — instructor`;
    $('mode-slot').replaceChildren(modeBadge(state));
    document.body.dataset.mode = state.mode;
    $('kernel').textContent = state.kernel;
    const urls =
      state.attendeeUrls && state.attendeeUrls.length > 1
        ? state.attendeeUrls.slice(1)
        : [`${location.protocol}//${location.host}/attend`];
    $('attendee-url').href = urls[0];
    $('attendee-url').textContent = urls.join('  ·  ');
    if (state.mode === 'rehearsal' && $('banner').className !== 'banner error') {
      $('banner').hidden = false;
      $('banner').textContent = `Rehearsal mode: "run" replays recorded outputs. ${state.rehearsalReason || ''}`;
    }
    const section = state.sections[state.step.section];
    document.body.dataset.section = section.id;
    document.body.dataset.cell = state.step.cell || '';
    $('sections').replaceChildren(
      el(
        'ol',
        {},
        state.sections.map((s, i) =>
          el(
            'li',
            { class: i === state.step.section ? 'current' : '', dataset: { index: String(i), id: s.id } },
            el('a', {
              href: `#${s.id}`,
              onclick: (ev) => {
                ev.preventDefault();
                act('step', { section: i, cell: null });
              },
              text: s.title,
            }),
            el('span', { class: 'timer' }),
          ),
        ),
      ),
    );
    renderTimers();
    $('section-title').textContent = section.title;
    const href = siteHref(state, section);
    $('page-link').replaceChildren(
      href
        ? el('a', {
            href,
            target: '_blank',
            rel: 'noopener',
            text: `site page ${section.page}${section.anchor ? '#' + section.anchor : ''}`,
          })
        : el('span', {
            class: 'note',
            text: `site page ${section.page} (site not served: ${state.siteProblem || 'unknown'})`,
          }),
    );
    $('notes').textContent = section.notes || '(no speaker notes for this section)';
    $('cells').replaceChildren(
      ...section.problems.map((p) => el('p', { class: 'problem', text: p })),
      ...section.cells.map((c) => renderCell(state, c, cellActions(c))),
    );
    if (changed === 'step' && state.step.cell)
      document.querySelector('.cell.current')?.scrollIntoView({ block: 'center' });
    renderReset();
  }

  const cellActions = (c) =>
    el(
      'span',
      { class: 'cell-actions' },
      el('button', {
        type: 'button',
        class: 'show',
        onclick: () => act('step', { section: state.step.section, cell: c.key }),
        text: 'Show',
      }),
      el('button', { type: 'button', class: 'run', onclick: () => act('run', { key: c.key }), text: 'Run this cell' }),
      el('button', {
        type: 'button',
        class: 'run-to',
        onclick: () => act('run-to', { key: c.key }),
        text: 'Run to here',
      }),
    );

  function renderReset() {
    const box = $('reset-report');
    const r = state.lastReset;
    if (state.resetting) {
      box.hidden = false;
      box.replaceChildren(
        el('h3', { text: 'Resetting the lab…' }),
        el('pre', { id: 'reset-log', text: (state.resetLog || []).join('\n') }),
      );
      return;
    }
    if (!r) return void (box.hidden = true);
    box.hidden = false;
    box.dataset.ok = String(r.ok);
    box.replaceChildren(
      el('h3', {
        class: r.ok ? 'ok' : 'bad',
        text: r.ok ? 'Lab reset: nothing of ours is left' : 'Lab reset: something of ours is still there',
      }),
      el('pre', { text: r.steps.join('\n') }),
      el('h4', { text: 'bpftool link list' }),
      el('pre', { class: 'bpftool', text: r.bpftoolLinkList }),
      el('h4', { text: 'bpftool perf list' }),
      el('pre', { class: 'bpftool', text: r.bpftoolPerfList }),
      r.ok
        ? el('p', {
            class: 'note',
            text: "Whatever these lists still show belongs to other processes on this machine: none of them carries this workshop's marker.",
          })
        : null,
      r.othersServers?.length
        ? el('p', {
            class: 'note',
            text: `Not ours, left alone: ${r.othersServers.map((s) => `pid ${s.pid} ${s.exe}`).join(', ')}`,
          })
        : null,
    );
  }

  // Presentation clickers send PageDown/PageUp; arrows work from the keyboard.
  document.addEventListener('keydown', (ev) => {
    if (
      !state ||
      ev.target.closest('input, textarea, select, [contenteditable]') ||
      ev.altKey ||
      ev.ctrlKey ||
      ev.metaKey
    )
      return;
    const delta = { ArrowRight: 1, PageDown: 1, ArrowLeft: -1, PageUp: -1 }[ev.key];
    if (delta) {
      ev.preventDefault();
      move(delta);
    }
  });
  $('prev').addEventListener('click', () => move(-1));
  $('next').addEventListener('click', () => move(1));
  $('interrupt').addEventListener('click', () => act('interrupt'));
  $('timers').addEventListener('click', () => act('timers'));
  $('reset').addEventListener('click', () => {
    if (confirm('Stop every server and probe of the lab and restart the kernel?')) act('reset');
  });
  setInterval(() => state && renderTimers(), 1000);

  connect(
    `/instructor/ws?token=${encodeURIComponent(token)}`,
    (s) => {
      state = s;
      render('step');
    },
    (msg) => {
      if (!state) return;
      if (msg.type === 'reset-step') {
        (state.resetLog ??= []).push(msg.line);
        return renderReset();
      }
      if (msg.type === 'resetting') state.resetLog = [];
      const changed = apply(state, msg);
      if (changed.what === 'cell') return void changed.keys.forEach((key) => redrawCell(state, key, cellActions));
      if (changed.what === 'kernel') return void ($('kernel').textContent = state.kernel);
      render(changed.what);
    },
    (status) => {
      $('conn').textContent = status;
      document.body.dataset.conn = status;
    },
  );
})();
