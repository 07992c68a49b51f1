import { relative } from 'node:path';
import { parse, type Command } from '../command.ts';
import { writeFileAtomic } from '../../core/files.ts';
import { buildAll } from '../build.ts';
import { at, root, serverBinary } from '../../core/paths.ts';
import { say } from '../../core/ui.ts';

export const crashRecordingPath = at('docs', 'data', 'crash-recording.json');

export const recordCrashCommand: Command = {
  name: 'record-crash',
  summary: 'crash the server under a uretprobe and print the forensics (--write: for the site)',
  usage: './lab record-crash [--binary=server/server] [--symbol=main.demo] [--request=/?arg=2000] [--write] [--json]',
  async run(argv) {
    // Stack words are BigInts; in JSON they are hex strings like every other address.
    const toJson = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `0x${x.toString(16)}` : x), 2);
    const { values } = parse('record-crash', argv, {
      flags: {
        binary: { type: 'path' },
        symbol: { type: 'string' },
        request: { type: 'string' },
        write: { type: 'bool' },
        json: { type: 'bool' },
      },
    });
    const { recordCrash } = await import('../../engines/record-crash.ts');
    const { renderForensicsText } = await import('../../model/forensics.ts');
    await buildAll({}, ['server', 'addon']);
    const rec = await recordCrash({
      binary: values.binary ?? serverBinary,
      symbol: values.symbol,
      request: values.request,
    });
    if (values.write) {
      await writeFileAtomic(crashRecordingPath, toJson({ ...rec, binary: relative(root, rec.binary) }) + '\n');
      say(`wrote ${relative(root, crashRecordingPath)}`);
    }
    console.log(values.json ? toJson(rec) : renderForensicsText(rec.forensics));
  },
};
