// Attendee view: receive-only. Follows the instructor's step unless the attendee browses elsewhere.
'use strict';
(() => {
  const { el, apply, connect, siteHref, modeBadge, renderCell, redrawCell } = Workshop;
  let state = null;
  let following = true;
  let viewing = 0; // section index shown when not following
  const $ = (id) => document.getElementById(id);

  const shownSection = () => (following ? state.step.section : viewing);

  function render(changed) {
    if (!state) return;
    document.title = `${state.title} — follow the workshop`;
    $('title').textContent = state.title;
    $('mode-slot').replaceChildren(modeBadge(state));
    document.body.dataset.mode = state.mode;
    const banner = $('banner');
    const bannerText =
      state.mode === 'rehearsal'
        ? `Rehearsal: outputs are replayed from the recorded notebooks. ${state.rehearsalReason || ''}`
        : '';
    banner.hidden = !bannerText;
    banner.textContent = bannerText;

    const idx = shownSection();
    const section = state.sections[idx];
    document.body.dataset.section = section.id;
    document.body.dataset.following = String(following);
    document.body.dataset.instructorSection = state.sections[state.step.section].id;
    document.body.dataset.instructorCell = state.step.cell || '';

    const follow = $('follow');
    follow.className = `follow ${following ? 'on' : 'off'}`;
    follow.textContent = following
      ? 'Following the instructor'
      : `Follow the instructor (now at: ${state.sections[state.step.section].title})`;

    $('sections').replaceChildren(
      el(
        'ol',
        {},
        state.sections.map((s, i) =>
          el(
            'li',
            { class: `${i === idx ? 'shown' : ''} ${i === state.step.section ? 'instructor' : ''}` },
            el('a', {
              href: `#${s.id}`,
              onclick: (ev) => {
                ev.preventDefault();
                browse(i);
              },
              text: s.title,
            }),
          ),
        ),
      ),
    );
    $('section-title').textContent = section.title;
    $('where').textContent = following
      ? 'You are following the instructor.'
      : 'You are browsing on your own; the instructor is elsewhere.';

    const href = siteHref(state, section);
    const frame = $('site');
    const note = $('site-note');
    if (href) {
      if (frame.dataset.href !== href) {
        frame.dataset.href = href;
        frame.src = href;
      }
      frame.hidden = false;
      note.hidden = true;
    } else {
      frame.hidden = true;
      note.hidden = false;
      note.textContent = `Site page ${section.page}${section.anchor ? '#' + section.anchor : ''} — the site is not being served: ${state.siteProblem || 'unknown reason'}`;
    }

    $('cells').replaceChildren(
      ...section.problems.map((p) => el('p', { class: 'problem', text: p })),
      ...section.cells.map((c) => renderCell(state, c)),
    );
    if (following && changed === 'step' && state.step.cell) {
      document.querySelector(`.cell[data-key="${CSS.escape(state.step.cell)}"]`)?.scrollIntoView({ block: 'center' });
    }
  }

  function browse(i) {
    if (i !== state.step.section) following = false;
    viewing = i;
    render('browse');
  }

  $('follow').addEventListener('click', () => {
    following = true;
    render('step');
  });

  connect(
    '/attend/ws',
    (s) => {
      state = s;
      render('step');
    },
    (msg) => {
      if (!state) return;
      const changed = apply(state, msg);
      // Cells of a section not on screen are not drawn: nothing to redraw.
      if (changed.what === 'cell') return void changed.keys.forEach((key) => redrawCell(state, key));
      if (changed.what === 'kernel') return;
      render(changed.what);
    },
    (status) => {
      $('conn').textContent = status;
      document.body.dataset.conn = status;
    },
  );
})();
