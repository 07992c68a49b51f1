import { parse, type Command } from '../command.ts';
import { buildAll } from '../build.ts';
import { LabError } from '../../core/errors.ts';
import { say } from '../../core/ui.ts';
import { defaultLimits } from '../../bpf/ts/probe-protocol.ts';

export const probeServiceCommand: Command = {
  name: 'probe-service',
  summary:
    'run the probe service alone (a per-node daemon for rooms larger than one machine; --hands-on starts its own)',
  usage: `./lab probe-service --socket=/run/go-uretprobe-lab/probe.sock [--max-probes=${defaultLimits.maxProbes}] [--max-events=${defaultLimits.maxEventsPerSecond}]`,
  async run(argv) {
    const { values } = parse('probe-service', argv, {
      flags: {
        socket: { type: 'path', default: '/run/go-uretprobe-lab/probe.sock' },
        'max-probes': { type: 'int', min: 1, max: 256, default: defaultLimits.maxProbes },
        'max-events': { type: 'int', min: 1, max: 1_000_000, default: defaultLimits.maxEventsPerSecond },
      },
    });
    if (process.getuid?.() !== 0)
      throw new LabError('the probe service attaches BPF programs for others', 'run it as root');
    await buildAll({}, ['addon', 'probe-gate']);
    const { mkdir } = await import('node:fs/promises');
    const { dirname } = await import('node:path');
    await mkdir(dirname(values.socket), { recursive: true, mode: 0o755 });
    const { ProbeService } = await import('../../engines/services/probe-service.ts');
    const service = new ProbeService(
      values.socket,
      { maxProbes: values['max-probes'], maxEventsPerSecond: values['max-events'] },
      { log: say },
    );
    await service.start();
    say(
      `probe service listening on ${values.socket} (callers probe only their own processes) — Ctrl-C stops it and releases every probe`,
    );
    return new Promise<number>((res) => {
      for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
        process.once(sig, () => void service.stop().then(() => res(0)));
    });
  },
};
