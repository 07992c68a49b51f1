import { parse, type Command } from '../command.ts';

export const doctorCommand: Command = {
  name: 'doctor',
  summary:
    'preflight: can this machine run the lab? (kernel, BTF, capabilities, uprobes, Go, tracer; leaked probe bytes and what the lab left running) — each with a fix',
  usage: './lab doctor [--json]   exits 1 when a required check fails',
  async run(argv) {
    const { values } = parse('doctor', argv, { flags: { json: { type: 'bool' } } });
    const { preflightChecks } = await import('../../engines/preflight.ts');
    const checks = await preflightChecks();
    const failed = checks.filter((c) => !c.ok && !c.optional);
    if (values.json) {
      console.log(JSON.stringify(checks, null, 2));
    } else {
      const w = Math.max(...checks.map((c) => c.name.length));
      for (const c of checks) {
        const mark = c.ok ? '✓' : c.optional ? '○' : '✗';
        console.log(`${mark} ${c.name.padEnd(w)}  ${c.found}${c.ok ? '' : `\n  ${' '.repeat(w)}  fix: ${c.fix}`}`);
      }
      console.log(
        failed.length === 0
          ? '\nready: every required check passed'
          : `\nnot ready: ${failed.map((c) => c.name).join(', ')}`,
      );
    }
    return failed.length === 0 ? 0 : 1;
  },
};
