// lab-test: concurrent — reads the sources only.
/** Every dependency between rooms is an import or a declared build input, never a path in a string. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { at } from '../../core/paths.ts';
import { kernelHelpersEntry, loadHelpersCell } from '../../model/kernel-cells.ts';
import { unresolvedSpecs } from '../support/imports.ts';

test('every relative require or import names a file from where it is written (no path in a string of code)', () => {
  const hidden = unresolvedSpecs().map(({ file, spec }) => `${file}: ${spec}`);
  assert.deepEqual(hidden, [], 'code run elsewhere gets its paths from a module it imports (model/kernel-cells.ts)');
});

test("the kernel cells' path to the helpers names the helpers' entry, and every notebook starts with it", () => {
  assert.ok(existsSync(at('notebooks', kernelHelpersEntry)), `${kernelHelpersEntry} from notebooks/ names no file`);
  for (const f of readdirSync(at('notebooks')).filter((n) => n.endsWith('.ipynb'))) {
    const nb = JSON.parse(readFileSync(at('notebooks', f), 'utf8')) as {
      cells: { cell_type: string; source: string | string[] }[];
    };
    const first = nb.cells.find((c) => c.cell_type === 'code');
    const source = Array.isArray(first?.source) ? first.source.join('') : first?.source;
    assert.equal(source, loadHelpersCell, `${f}: its first code cell`);
  }
});
