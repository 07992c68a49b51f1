import { parse, UsageError, type Command } from '../command.ts';
import { LabError } from '../../core/errors.ts';

export const exercisesCommand: Command = {
  name: 'exercises',
  summary:
    'the exercises of notebooks 02-07 with pass/fail on this machine; --check NAME runs one check on the real kernel',
  usage:
    './lab exercises [--names] [--check NAME] [--answer NAME=CHOICE] [--reset [NAME|NN]] [--write-cells]\n' +
    '  (no option)    the table: notebook, name, kind, state on this machine, title\n' +
    '  --names        the names, one a line\n' +
    '  --check NAME   judge what is saved for NAME (a prediction, your last attempt in the notebook); exit 1 unless it passes\n' +
    '  --answer N=C   lock in choice C for prediction N (then --check N)\n' +
    '  --reset [X]    forget progress: all, one exercise, or notebook NN\n' +
    '  --write-cells  rewrite the exercise cells in notebooks/02-07 from the catalog (no other cell changes)',
  async run(argv) {
    const { values, positionals } = parse('exercises', argv, {
      flags: {
        names: { type: 'bool' },
        check: { type: 'string' },
        answer: { type: 'string' },
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
    if (values.answer) {
      const [name, choice] = values.answer.split('=');
      const e = ex.exercise(name);
      if (e?.kind !== 'predict')
        throw new LabError(`"${name}" is not a prediction`, 'see ./lab exercises for the predict ones');
      if (!e.choices.some((c) => c.id === choice))
        throw new LabError(
          `"${choice}" is none of ${name}'s choices`,
          `answer one of ${e.choices.map((c) => c.id).join(', ')}`,
        );
      const saved = (await ex.readProgress())[name];
      if (saved?.answer !== undefined)
        throw new LabError(
          `${name} is locked in as ${saved.answer}`,
          `./lab exercises --reset ${name} to answer again`,
        );
      await ex.save(name, { answer: choice });
      console.log(`${name}: locked in ${choice} — ./lab exercises --check ${name} says who was right`);
      return 0;
    }
    if (values.check) {
      if (!ex.exercise(values.check))
        throw new LabError(`no exercise named "${values.check}"`, 'see ./lab exercises --names');
      const v = await ex.checkSaved(values.check);
      console.log(`${v.pass ? '✓ pass' : '✗ not yet'} · ${values.check}: ${v.message}`);
      return v.pass ? 0 : 1;
    }
    const progress = await ex.readProgress();
    const width = Math.max(...ex.exercises.map((e) => e.name.length));
    console.log(`${'nb'.padEnd(3)} ${'exercise'.padEnd(width)}  ${'kind'.padEnd(8)} ${'state'.padEnd(8)} title`);
    for (const e of ex.exercises) {
      const r = progress[e.name]?.result;
      const state = r ? (r.pass ? 'pass' : 'fail') : '—';
      console.log(`${e.notebook.padEnd(3)} ${e.name.padEnd(width)}  ${e.kind.padEnd(8)} ${state.padEnd(8)} ${e.title}`);
    }
    const done = ex.exercises.filter((e) => progress[e.name]?.result?.pass).length;
    console.log(
      `\n${done} of ${ex.exercises.length} passed on this machine (${ex.progressFile()}); ./lab exercises --check NAME runs one check`,
    );
    return 0;
  },
};
