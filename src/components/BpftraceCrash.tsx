import CodeBlock from '@theme/CodeBlock';
import rec from '@site/docs/data/bpftrace-crash.json';

/** The parts of a Go crash a reader needs: the report, the runtime's own stack, the crashed goroutine's frames. */
function crashExcerpt(stderr: string): string {
  const lines = stderr.split('\n');
  const report = lines.find((l) => /unexpected return pc/.test(l));
  const fatal = lines.find((l) => l.startsWith('fatal error'));
  const rs = lines.indexOf('runtime stack:');
  const runtimeStack = rs < 0 ? [] : lines.slice(rs, lines.indexOf('', rs));
  const g = lines.findIndex((l, i) => i > rs && /^goroutine \d+ .*\[/.test(l));
  const frames: string[] = [];
  for (let i = g; g >= 0 && i < lines.length && !lines[i].startsWith('runtime: g ') && lines[i] !== ''; i++)
    frames.push(lines[i]);
  return [report, '…hex dump of the stack…', fatal, '', ...runtimeStack, '', ...frames]
    .filter((l) => l !== undefined)
    .join('\n');
}

/** bpftrace's uretprobe one-liner on the lab's server, as docs/data/record-bpftrace.ts recorded it. */
export default function BpftraceCrash() {
  return (
    <div data-testid="bpftrace-crash">
      <CodeBlock language="bash" title="the one-liner (as root, next to the lab's server binary)">
        {rec.command}
      </CodeBlock>
      <CodeBlock language="text" title="what bpftrace printed">
        {rec.bpftraceOutput.trim()}
      </CodeBlock>
      <CodeBlock language="text" title="the requests">
        {rec.requests.join('\n')}
      </CodeBlock>
      <CodeBlock
        language="text"
        title={`what the server wrote as it died (exit ${rec.serverExit.code ?? rec.serverExit.signal})`}
      >
        {crashExcerpt(rec.serverStderr)}
      </CodeBlock>
      <p style={{ fontSize: '0.85rem' }}>
        Recorded {rec.recordedAt.slice(0, 19).replace('T', ' ')} UTC on Linux {rec.kernel} with {rec.bpftrace}, server
        built with {rec.goVersion}, by <code>node --import tsx docs/data/record-bpftrace.ts</code>.
      </p>
    </div>
  );
}
