import { writeFile } from 'node:fs/promises';
import { relative } from 'node:path';
import { flags, type Command } from '../command.ts';
import { buildAll } from '../build.ts';
import { at, root, serverBinary } from '../paths.ts';
import { say } from '../ui.ts';

export const crashRecordingPath = at('docs', 'data', 'crash-recording.json');

export const recordCrashCommand: Command = {
  name: 'record-crash',
  summary: 'crash the server under a uretprobe and print the forensics (--write: for the site)',
  usage: './lab record-crash [--binary=server/server] [--symbol=main.demo] [--request=/?arg=2000] [--write] [--json]',
  async run(argv) {
    const { values } = flags(argv, {
      binary: { type: 'string' },
      symbol: { type: 'string' },
      request: { type: 'string' },
      write: { type: 'boolean' },
      json: { type: 'boolean' },
    });
    const { recordCrash } = await import('../../kernel-helpers/record-crash.ts');
    const { renderForensicsText } = await import('../../kernel-helpers/forensics.ts');
    await buildAll({}, ['server', 'bpf', 'addon']);
    const rec = await recordCrash({ binary: values.binary ?? serverBinary, symbol: values.symbol, request: values.request });
    if (values.write) {
      await writeFile(crashRecordingPath, JSON.stringify({ ...rec, binary: relative(root, rec.binary) }, null, 2) + '\n');
      say(`wrote ${relative(root, crashRecordingPath)}`);
    }
    console.log(values.json ? JSON.stringify(rec, null, 2) : renderForensicsText(rec.forensics));
  },
};
