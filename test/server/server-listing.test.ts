/**
 * The Go route table is the one source of the crash triggers: a trigger added there reaches
 * `server -list`, the crash matrix's cells, the README's endpoint table and the recorded matrix
 * the site reads — with no list to edit anywhere else.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../core/proc.ts';
import { at, serverDir } from '../../core/paths.ts';
import { buildServer, goToolchain } from '../../core/go.ts';
import { matrixCells, probeKinds, readMatrix } from '../../engines/crash-matrix.ts';
import { renderEndpointsMarkdown, serverListing } from '../../engines/server-listing.ts';

const tc = await goToolchain();
const binary = await buildServer(tc);

test('a trigger added to the Go route table (in a temporary copy of server/) appears in server -list and in the crash matrix cells', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lab-trigger-'));
  try {
    cpSync(serverDir, dir, { recursive: true, filter: (src) => src === serverDir || /\.go$|go\.mod$/.test(src) });
    const handlers = join(dir, 'handlers.go');
    const table = readFileSync(handlers, 'utf8');
    const classify = '"several RET instructions and a defer", nil,';
    assert.ok(table.includes(classify), 'server/handlers.go: the /classify route has no triggers');
    writeFileSync(
      handlers,
      table.replace(
        classify,
        '"several RET instructions and a defer", []trigger{{id: "many-rets", title: "a RET in each branch", query: "arg=7"}},',
      ),
    );
    const added = join(dir, 'server');
    await run(tc.go, ['build', '-o', added, '.'], {
      cwd: dir,
      env: { ...process.env, CGO_ENABLED: '0' },
      capture: true,
    });

    const listed = serverListing(added).triggers;
    assert.deepEqual(
      listed.find((t) => t.id === 'many-rets'),
      { id: 'many-rets', title: 'a RET in each branch', path: '/classify?arg=7', symbol: 'main.classify' },
    );
    const original = serverListing(binary).triggers;
    assert.deepEqual(
      listed.filter((t) => t.id !== 'many-rets'),
      original,
      'the other triggers are unchanged',
    );

    const cells = matrixCells(added).map((c) => `${c.trigger.id} × ${c.probe}`);
    assert.deepEqual(
      cells.filter((c) => c.startsWith('many-rets ')),
      probeKinds.map((p) => `many-rets × ${p}`),
    );
    assert.equal(cells.length, (original.length + 1) * probeKinds.length);
    assert.match(
      renderEndpointsMarkdown(serverListing(added)),
      /\| `\/classify\?arg=N` +\| `main\.classify` +\| .* \| `many-rets` +\|/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('/endpoints.json serves what server -list prints', async () => {
  const { ManagedServer } = await import('../../engines/managed-server.ts');
  await using srv = await ManagedServer.start({ binary });
  const res = await srv.get('/endpoints.json');
  assert.equal(res.status, 200);
  assert.deepEqual(JSON.parse(res.body), serverListing(binary));
});

test("the README endpoint table and the recorded matrix carry the server's own list (refresh: ./lab crash-matrix --write)", () => {
  const listing = serverListing(binary);
  const readme = readFileSync(at('README.md'), 'utf8');
  const block = /<!-- endpoints:start -->\n([^]*?)\n<!-- endpoints:end -->/.exec(readme);
  assert.ok(block, 'README.md has no generated endpoints block');
  assert.equal(
    block[1],
    renderEndpointsMarkdown(listing),
    'README endpoint table is stale: run ./lab crash-matrix --write',
  );
  const recorded = readMatrix(at('docs', 'data', 'crash-matrix.json'));
  assert.deepEqual(
    recorded.triggers,
    listing.triggers,
    'docs/data/crash-matrix.json lists other triggers than the server: run ./lab crash-matrix --write',
  );
});
