import { run, have } from '../core/proc.ts';
import { runInstaller } from '../core/installer-log.ts';
import { say, step } from '../core/ui.ts';
import { LabError } from '../core/errors.ts';
import { withLock } from '../core/lock.ts';
import type { SetupStep } from '../core/setup-step.ts';
export type { SetupStep };
import { jupyterVenvStep, tslabKernelStep } from '../engines/services/jupyter.ts';
import { wantedPackages } from '../core/debian-packages.ts';

let aptUpdated = false;
async function aptInstall(pkgs: string[]): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new LabError(`missing Debian packages: ${pkgs.join(' ')}`, 'run ./lab setup as root (sudo ./lab setup)');
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!aptUpdated) {
    await runInstaller('apt', 'apt-get', ['update'], {
      env,
      fix: 'check that the Debian mirrors are reachable, then run ./lab setup again',
    });
    aptUpdated = true;
  }
  await runInstaller('apt', 'apt-get', ['install', '-y', '--no-install-recommends', ...pkgs], { env });
}

async function installedDebs(names: string[]): Promise<Set<string>> {
  const out = await run('dpkg-query', ['-W', '-f', '${Package} ${db:Status-Status}\n', ...names], {
    capture: true,
  }).catch((e: LabError) => String(e.message));
  return new Set(out.split('\n').flatMap((l) => (l.endsWith(' installed') ? [l.split(' ')[0]] : [])));
}

export const aptStep: SetupStep = {
  title: 'Debian packages',
  async missing() {
    const wanted = Object.keys(wantedPackages());
    if (!(await have('go'))) wanted.push('golang-go');
    const got = await installedDebs(wanted);
    return wanted.filter((p) => !got.has(p));
  },
  async install(missing) {
    for (const p of missing) say(`  ${p}: ${wantedPackages()[p] ?? 'Go toolchain (none installed)'}`);
    await aptInstall(missing);
  },
};

/** Steps run in order by `./lab setup`; later issues append theirs. */
export const setupSteps: SetupStep[] = [aptStep, jupyterVenvStep, tslabKernelStep];

/**
 * Installs whatever is missing. Returns how many steps had work to do, so the
 * caller can say "nothing to do" on a machine that is ready.
 */
export async function ensureSetup(steps: SetupStep[] = setupSteps): Promise<number> {
  return withLock('build', 'set-up or build', async () => {
    let worked = 0;
    for (const s of steps) {
      const missing = await s.missing();
      if (missing.length === 0) continue;
      worked++;
      await step(`${s.title}: installing ${missing.join(', ')}`, () => s.install(missing));
    }
    return worked;
  });
}
