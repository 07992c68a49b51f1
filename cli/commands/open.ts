import { parse, type Command } from '../command.ts';
import { accessDays } from '../../model/site-access.ts';

export const openCommand: Command = {
  name: 'open',
  summary: 'a new one-time link that lets another browser into the running lab (--revoke: shut every browser out)',
  usage:
    './lab open [--revoke] [--site-port=N]\n' +
    '  asks the lab that ./lab start runs (no restart: kernels and probes stay) for a new link to its site;\n' +
    `  the browser that opens it keeps access for ${accessDays} days, until --revoke or until the lab stops\n` +
    '  --revoke: every browser let in so far (and every unused link) is refused from now on\n' +
    '  --site-port=N: which lab, when several run',
  async run(argv) {
    const { values } = parse('open', argv, {
      flags: { revoke: { type: 'bool' }, 'site-port': { type: 'int', min: 1, max: 65535 } },
    });
    const { askRunningSite } = await import('../../engines/services/site.ts');
    if (values.revoke) {
      const { revoked } = await askRunningSite('revoke', values['site-port']);
      console.log(
        `Revoked: ${revoked} browser${revoked === 1 ? '' : 's'} and every unused link refused from now on. ./lab open prints a new link.`,
      );
      return;
    }
    const { url } = await askRunningSite('grant', values['site-port']);
    console.log(`
    Docs site     ${url}
                  (works once: the browser that opens it may run the notebook cells for ${accessDays} days;
                   ./lab open --revoke shuts every browser out)`);
  },
};
