// lab-test: concurrent — its own Jupyter; probes only private server copies; checks only the kernels, servers and links it saw.
// The other half of the notebooks run twice in one kernel (test/support/notebooks-twice.ts).
import { test } from 'node:test';
import { runEachTwice } from '../support/notebooks-twice.ts';

test('the other half of the notebooks, each run twice in one kernel: no error, the second run replaces the probes and servers of the first, and nothing is left', () =>
  runEachTwice(1));
