// lab-test: concurrent — pure functions.
// The live output model the site's notebook pages and the workshop views share
// (model/live-outputs.ts): what JupyterLab does with each iopub message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OutputStore, terminalText } from '../../model/live-outputs.ts';
import { liveOutputsScript } from '../../engines/notebook/live-bundle.ts';

const html = (h: string) => ({ 'text/html': h, 'text/plain': h.replace(/<[^>]+>/g, '') });

test('a display updated while a later cell runs changes in place, in the cell that showed it', () => {
  const s = new OutputStore();
  s.apply('3', 'display_data', {
    data: html('<table><caption>0 event(s)</caption></table>'),
    metadata: {},
    transient: { display_id: 'ev' },
  });
  s.apply('5', 'stream', { name: 'stdout', text: 'request sent\n' });
  // tslab sends the table's updates with the header of the cell running now (5).
  const changed = s.apply('5', 'update_display_data', {
    data: html('<table><caption>2 event(s)</caption></table>'),
    metadata: {},
    transient: { display_id: 'ev' },
  });
  assert.deepEqual(changed, ['3']);
  assert.equal(s.outputs('3').length, 1);
  assert.match(String(s.outputs('3')[0].data?.['text/html']), /2 event\(s\)/);
  assert.equal(s.outputs('3')[0].output_type, 'display_data');
  assert.deepEqual(
    s.outputs('5').map((o) => o.output_type),
    ['stream'],
  );
  // An update for a display nobody shows is dropped.
  assert.deepEqual(s.apply('5', 'update_display_data', { data: html('x'), transient: { display_id: 'nope' } }), []);
});

test('display_data with a known display id updates the earlier copy and adds a new one', () => {
  const s = new OutputStore();
  s.apply('1', 'display_data', { data: html('v1'), transient: { display_id: 'd' } });
  s.apply('2', 'display_data', { data: html('v2'), transient: { display_id: 'd' } });
  assert.equal(s.outputs('1')[0].data?.['text/html'], 'v2');
  assert.equal(s.outputs('2')[0].data?.['text/html'], 'v2');
});

test('clear_output(wait) clears at the next output; clear_output clears now', () => {
  const s = new OutputStore();
  s.apply('1', 'stream', { name: 'stdout', text: 'frame 1\n' });
  s.apply('1', 'clear_output', { wait: true });
  assert.equal(s.outputs('1').length, 1, 'cleared before the next output came');
  s.apply('1', 'stream', { name: 'stdout', text: 'frame 2\n' });
  assert.deepEqual(
    s.outputs('1').map((o) => o.text),
    ['frame 2\n'],
  );
  s.apply('1', 'clear_output', { wait: false });
  assert.equal(s.outputs('1').length, 0);
});

test('streams of one name merge; a carriage return rewrites its line', () => {
  const s = new OutputStore();
  s.apply('1', 'stream', { name: 'stdout', text: 'a' });
  s.apply('1', 'stream', { name: 'stdout', text: 'b\n' });
  s.apply('1', 'stream', { name: 'stderr', text: 'oops\n' });
  s.apply('1', 'stream', { name: 'stdout', text: '10%\r50%\r' });
  assert.deepEqual(
    s.outputs('1').map((o) => [o.name, o.text]),
    [
      ['stdout', 'ab\n'],
      ['stderr', 'oops\n'],
      ['stdout', '10%\r50%\r'],
    ],
  );
  assert.equal(terminalText('10%\r50%\r'), '50%');
  assert.equal(terminalText('10%\r50%\r100%\ndone'), '100%\ndone');
  assert.equal(terminalText('ab\bc'), 'ac');
});

test('subscribers hear which cells changed; reset and resetAll empty cells', () => {
  const s = new OutputStore();
  const heard: string[][] = [];
  s.subscribe((k) => heard.push(k));
  s.apply('1', 'execute_result', { data: { 'text/plain': '3' }, execution_count: 1 });
  s.apply('2', 'error', { ename: 'Error', evalue: 'boom', traceback: [] });
  s.reset('1');
  assert.deepEqual(s.outputs('1'), []);
  s.resetAll();
  assert.deepEqual(s.keys(), []);
  assert.deepEqual(heard, [['1'], ['2'], ['1'], ['2']]);
  assert.deepEqual(s.apply('1', 'status', { execution_state: 'idle' }), [], 'status messages are no outputs');
});

test('the browser script exposes the same store as a global (the workshop views load it)', () => {
  const script = liveOutputsScript();
  const g = new Function(`${script}; return LabLiveOutputs;`)() as { OutputStore: typeof OutputStore };
  const s = new g.OutputStore();
  s.apply('a', 'display_data', { data: html('0'), transient: { display_id: 't' } });
  s.apply('b', 'update_display_data', { data: html('2 rows'), transient: { display_id: 't' } });
  assert.equal(s.outputs('a')[0].data?.['text/html'], '2 rows');
});
