import CodeBlock from '@theme/CodeBlock';

interface Props {
  /** The whole file, imported at build time (`import src from '@site/bpf/entry.bpf.c?raw'`). */
  source: string;
  /** Its path in the repository, shown as the block's title. */
  file: string;
  /** The excerpt starts at the first line that starts with this text… */
  from: string;
  /** …and ends at the next line (from there on) that starts with this one. Omitted: to the end. */
  through?: string;
}

/**
 * Lines of a source file as it is in the repository when the site is built, with the file's own
 * line numbers. An anchor that is no longer in the file fails the build: the page can't go stale.
 */
export default function SourceExcerpt({ source, file, from, through }: Props) {
  const lines = source.replace(/\n$/, '').split('\n');
  const start = lines.findIndex((l) => l.startsWith(from));
  if (start < 0)
    throw new Error(`${file} has no line starting with ${JSON.stringify(from)}: update the page that shows it`);
  let end = lines.length - 1;
  if (through !== undefined) {
    end = lines.findIndex((l, i) => i > start && l.startsWith(through));
    if (end < 0)
      throw new Error(`${file}: no line starting with ${JSON.stringify(through)} after ${JSON.stringify(from)}`);
  }
  return (
    <div data-source-file={file} data-source-lines={`${start + 1}-${end + 1}`}>
      <CodeBlock language="c" title={`${file}, lines ${start + 1}–${end + 1}`} showLineNumbers={start + 1}>
        {lines.slice(start, end + 1).join('\n')}
      </CodeBlock>
    </div>
  );
}
