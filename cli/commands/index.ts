import type { Command } from '../command.ts';
import { helpCommand } from './help.ts';
import { setupCommand } from './setup.ts';
import { buildCommand } from './build.ts';
import { runAppCommand } from './run-app.ts';
import { testCommand } from './test.ts';
import { startCommand } from './start.ts';
import { openCommand } from './open.ts';
import { workshopCommand } from './workshop.ts';
import { crashMatrixCommand } from './crash-matrix.ts';
import { recordCrashCommand } from './record-crash.ts';
import { doctorCommand } from './doctor.ts';
import { pairingCommand } from './pairing.ts';
import { runTracerCommand } from './run-tracer.ts';
import { inliningCommand } from './inlining.ts';
import { notebooksCommand } from './notebooks.ts';
import { benchCommand } from './bench.ts';
import { exercisesCommand } from './exercises.ts';
import { probeServiceCommand } from './probe-service.ts';
import { containerCommand } from './container.ts';

/** Every `./lab` command, in the order `./lab help` lists them. */
export const commands: Command[] = [
  startCommand,
  openCommand,
  testCommand,
  setupCommand,
  buildCommand,
  runAppCommand,
  doctorCommand,
  runTracerCommand,
  crashMatrixCommand,
  recordCrashCommand,
  pairingCommand,
  inliningCommand,
  notebooksCommand,
  exercisesCommand,
  benchCommand,
  workshopCommand,
  probeServiceCommand,
  containerCommand,
];
commands.push(helpCommand(() => commands));
