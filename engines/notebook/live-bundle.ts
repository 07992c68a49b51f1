/**
 * model/live-outputs.ts as one classic browser script (global `LabLiveOutputs`), for pages served without
 * a bundler (the workshop's views): `<script src="…/live-outputs.js">`, then
 * `new LabLiveOutputs.OutputStore()`. Bundled on first use with esbuild, from the source itself, so
 * it cannot go stale.
 */
import { buildSync } from 'esbuild';
import { at } from '../../core/paths.ts';

let script: string | undefined;

export function liveOutputsScript(): string {
  script ??= buildSync({
    entryPoints: [at('model', 'live-outputs.ts')],
    bundle: true,
    format: 'iife',
    globalName: 'LabLiveOutputs',
    target: 'es2020',
    write: false,
    logLevel: 'silent',
  }).outputFiles[0].text;
  return script;
}
