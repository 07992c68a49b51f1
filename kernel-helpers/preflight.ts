import { preflightChecks, type Check } from '../engines/preflight.ts';
import { showTable } from './display.ts';

export { preflightChecks, type Check };

/** Notebook 00's table: every preflight check, with its fix. */
export async function preflight(): Promise<Check[]> {
  const checks = await preflightChecks();
  showTable(
    ['check', '', 'found', 'fix'],
    checks.map((c) => [c.name, c.ok ? '✓' : c.optional ? '○' : '✗', c.found, c.ok ? '' : c.fix]),
  );
  const failed = checks.filter((c) => !c.ok && !c.optional);
  console.log(
    failed.length === 0
      ? 'ready: every check passed'
      : `not ready: ${failed.map((c) => c.name).join(', ')} — see the fix column`,
  );
  return checks;
}
