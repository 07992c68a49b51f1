import { useCrashRecording } from './useCrashRecording';

/** Lines of the recorded crash output (docs/data/crash-recording.json) matching a pattern, verbatim. */
export default function CrashOutput({ lines = 'signature' }: { lines?: 'signature' | 'runtime-stack' | 'goroutine' }) {
  const r = useCrashRecording();
  if (!r) return <p>No crash recorded yet (docs/data/crash-recording.json).</p>;
  const all = r.stderr.split('\n');
  let shown: string[] = [];
  if (lines === 'signature') {
    shown = all.filter((l) => /unexpected return pc|^fatal error|^SIGILL|^stack: frame/.test(l));
    shown = Array.from(new Set(shown));
  } else if (lines === 'runtime-stack') {
    const i = all.indexOf('runtime stack:');
    shown = i < 0 ? [] : all.slice(i, all.indexOf('', i));
  } else {
    const i = all.findIndex((l) => /^goroutine \d+ .*\[/.test(l));
    shown =
      i < 0
        ? []
        : [
            ...all.slice(i, i + 7),
            '\t…',
            ...all.slice(all.findIndex((l, k) => k > i && l.startsWith('runtime: g ')) - 4).slice(0, 6),
          ];
  }
  return (
    <figure>
      <pre data-testid={`crash-output-${lines}`}>{shown.join('\n')}</pre>
      <figcaption style={{ fontSize: '0.8rem' }}>
        Recorded {r.recordedAt.slice(0, 19).replace('T', ' ')} UTC on Linux {r.kernel}, {r.goVersion}: GET {r.request}{' '}
        with a uretprobe on {r.symbol}
        {r.tracer && (
          <>
            {' '}
            attached with <code>{r.tracer}</code>
          </>
        )}
        .
      </figcaption>
    </figure>
  );
}
