/**
 * Code the lab writes for a notebook's kernel to run. The kernel's working directory is notebooks/,
 * so cells reach the helpers as ../kernel-helpers/load.cjs: that path is written here only, and
 * test/architecture/arrows.test.ts holds it to the file it names.
 */

/** The helpers' entry, as a cell in notebooks/ requires it. */
export const kernelHelpersEntry = '../kernel-helpers/load.cjs';

/** Every notebook's first code cell: the helpers as `lab`. */
export const loadHelpersCell = `const lab = require(${JSON.stringify(kernelHelpersEntry)});`;

/**
 * After an interrupt: what the kernel released for the interrupted cell (kernel-helpers/cell-errors.cjs),
 * and `names` released from the helpers' registry now; prints {released, kept} as JSON. Through a named
 * function: tslab leaves `await (async () => …)()` at top level untransformed ("await is not defined").
 */
export function releaseCell(names: string[], fn = `labRelease${Date.now()}`): string {
  return `async function ${fn}() {
  const helpers = require(${JSON.stringify(kernelHelpersEntry)});
  const released: string[] = [...(helpers.releasedAtInterrupt?.() ?? [])];
  for (const name of ${JSON.stringify(names)}) if (helpers.kept().includes(name)) { await helpers.release(name); released.push(name); }
  return { released, kept: helpers.kept() as string[] };
}
console.log(JSON.stringify(await ${fn}()));`;
}
