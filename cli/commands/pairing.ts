import { parse, type Command } from '../command.ts';
import { buildAll } from '../build.ts';

export const pairingCommand: Command = {
  name: 'pairing',
  summary: 'thread id vs goroutine as the key that pairs entries with returns, side by side on real calls',
  usage: './lab pairing [--requests=20] [--symbol=main.hopThreads] [--path=/hop?arg=5] [--json]',
  async run(argv) {
    const { values } = parse('pairing', argv, {
      flags: {
        requests: { type: 'int', min: 1, max: 1000 },
        symbol: { type: 'string' },
        path: { type: 'string' },
        json: { type: 'bool' },
      },
    });
    await buildAll({}, ['server', 'addon']);
    const { measurePairing, renderPairingText } = await import('../../engines/pairing.ts');
    const p = await measurePairing({ requests: values.requests, symbol: values.symbol, path: values.path });
    console.log(values.json ? JSON.stringify(p, null, 2) : renderPairingText(p));
  },
};
