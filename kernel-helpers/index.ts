/**
 * The vocabulary of the notebooks' cells. Cells load it with
 *   const lab = require("../kernel-helpers/load.cjs");
 * (tslab compiles cells with its own TypeScript 5.0 and cannot import the project's .ts files;
 * load.cjs hands them to tsx, like ./lab does).
 */
export * from './registry.ts';
export * from './display.ts';
export * from './preflight.ts';
export * from './lab-server.ts';
export * from './probes.ts';
export * from './charts.ts';
export * from './overhead.ts';
export * from './exercises.ts';
export { parseCrash, renderForensicsHtml, renderForensicsText, classifyDeath } from '../model/forensics.ts';
export { formatCall } from '../bpf/ts/values.ts';
export { resetLab } from './reset.ts';
export * as crashMatrix from '../engines/crash-matrix.ts';
export { goToolchain, availableToolchains } from '../core/go.ts';
