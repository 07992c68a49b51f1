import { parse, UsageError, type Command } from '../command.ts';
import { LabError } from '../../core/errors.ts';
import { attemptsLine, plainText, readChoice } from '../../model/exercises/judging.ts';

export const exercisesCommand: Command = {
  name: 'exercises',
  summary:
    'the exercises of notebooks 02-07 with pass/fail on this machine; --check NAME runs one check on the real kernel',
  usage:
    './lab exercises [--names] [--check NAME] [--answer NAME=CHOICE] [--retry NAME] [--reset [NAME|NN]] [--write-cells]\n' +
    '  (no option)    the table: notebook, name, kind, state on this machine, title\n' +
    '  --names        the names, one a line\n' +
    '  --check NAME   judge what is saved for NAME (a prediction, your last attempt in the notebook); exit 1 unless it passes\n' +
    '  --answer N=C   lock in choice C for prediction N (then --check N)\n' +
    '  --retry NAME   answer prediction NAME again: its attempts and best result are kept\n' +
    '  --reset [X]    forget progress: all, one exercise, or notebook NN\n' +
    '  --write-cells  rewrite the exercise cells in notebooks/02-07 from the catalog (no other cell changes)',
  async run(argv) {
    const { values, positionals } = parse('exercises', argv, {
      flags: {
        names: { type: 'bool' },
        check: { type: 'string' },
        answer: { type: 'string' },
        retry: { type: 'string' },
        reset: { type: 'bool' },
        'write-cells': { type: 'bool' },
      },
      positionals: { name: 'exercise or notebook number (with --reset)', max: 1 },
    });
    if (positionals.length && !values.reset)
      throw new UsageError(
        `./lab exercises: unexpected argument ${JSON.stringify(positionals[0].slice(0, 80))}`,
        'only --reset takes one (see ./lab exercises --help)',
      );
    const ex = await import('../../engines/exercises/index.ts');
    if (values.names) {
      for (const e of ex.exercises) console.log(e.name);
      return 0;
    }
    if (values['write-cells']) {
      const { writeExerciseCells } = await import('../../engines/exercises/cells.ts');
      for (const line of await writeExerciseCells()) console.log(line);
      return 0;
    }
    if (values.reset) {
      const which = positionals[0];
      const names =
        which === undefined ? undefined : ex.exercise(which) ? [which] : ex.exercisesOf(which).map((e) => e.name);
      if (names?.length === 0)
        throw new LabError(
          `"${which}" is neither an exercise nor a notebook number`,
          'pass e.g. 05 or 05-survive-growth',
        );
      console.log(`forgot ${(await ex.forget(names)).length} exercise(s) in ${ex.progressFile()}`);
      return 0;
    }
    if (values.retry) {
      const e = ex.exercise(values.retry);
      if (!e) throw new LabError(`no exercise named "${values.retry}"`, 'see ./lab exercises --names');
      if (e.kind === 'predict') await ex.save(e.name, { answer: undefined });
      console.log(
        e.kind === 'predict'
          ? `${e.name}: answer again with ./lab exercises --answer ${e.name}=CHOICE (earlier attempts and the best result are kept)`
          : `${e.name}: try again in notebook ${e.notebook}'s cell — every attempt is judged, the best result is kept`,
      );
      return 0;
    }
    if (values.answer) {
      const eq = values.answer.indexOf('=');
      const [name, answer] = eq < 0 ? [values.answer, ''] : [values.answer.slice(0, eq), values.answer.slice(eq + 1)];
      const e = ex.exercise(name);
      if (e?.kind !== 'predict')
        throw new LabError(`"${name}" is not a prediction`, 'see ./lab exercises for the predict ones');
      const choice = readChoice(e, answer);
      if (choice === undefined)
        throw new LabError(
          `"${answer}" is none of ${name}'s choices`,
          `answer one of ${e.choices.map((c) => c.id).join(', ')}`,
        );
      const saved = (await ex.readProgress())[name];
      if (saved?.answer !== undefined)
        throw new LabError(
          `${name} is locked in as ${saved.answer}`,
          `./lab exercises --retry ${name} to answer again`,
        );
      await ex.save(name, { answer: choice });
      console.log(`${name}: locked in ${choice} — ./lab exercises --check ${name} says who was right`);
      return 0;
    }
    if (values.check) {
      if (!ex.exercise(values.check))
        throw new LabError(`no exercise named "${values.check}"`, 'see ./lab exercises --names');
      const v = await ex.checkSaved(values.check);
      const kept = (await ex.readProgress())[values.check];
      console.log(`${v.pass ? '✓ pass' : '✗ not yet'} · ${values.check}: ${plainText(v.message)}`);
      if (!v.pass && kept?.result?.pass) console.log(`(passed before: ${attemptsLine(kept.attempts ?? [])})`);
      return v.pass ? 0 : 1;
    }
    const progress = await ex.readProgress();
    const width = Math.max(...ex.exercises.map((e) => e.name.length));
    console.log(`${'nb'.padEnd(3)} ${'exercise'.padEnd(width)}  ${'kind'.padEnd(8)} ${'state'.padEnd(8)} title`);
    for (const e of ex.exercises) {
      const r = progress[e.name]?.result;
      const tries = progress[e.name]?.attempts?.length;
      const state = r ? `${r.pass ? 'pass' : 'fail'}${tries && tries > 1 ? ` ×${tries}` : ''}` : '—';
      console.log(`${e.notebook.padEnd(3)} ${e.name.padEnd(width)}  ${e.kind.padEnd(8)} ${state.padEnd(8)} ${e.title}`);
    }
    const done = ex.exercises.filter((e) => progress[e.name]?.result?.pass).length;
    console.log(
      `\n${done} of ${ex.exercises.length} passed on this machine (${ex.progressFile()}); ./lab exercises --check NAME runs one check`,
    );
    return 0;
  },
};
