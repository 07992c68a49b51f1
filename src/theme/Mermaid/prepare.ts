// What the site changes in a diagram's source before mermaid draws it. No React, no DOM: tests import it.

/** A sequence diagram's message or note line: `A->>B: text`, `Note over A: text` (not participants, acc*, comments). */
const messageLine =
  /^(?!\s*(?:participant|actor|acc\w*|title)\b|\s*%%)(\s*[^:\n]+?):(?!\s*(?:no)?wrap:)\s*(.*<br\s*\/?>.*)$/i;

/**
 * A message or note whose author broke it into lines (`<br/>`) keeps those lines. With the site's
 * `sequence.wrap` (docusaurus.config.ts), mermaid draws such a note only `sequence.width` wide, so a
 * line longer than that is cut ("ns with a forge"), and it re-breaks long words of self-messages
 * mid-word ("return_instanc-e"); mermaid's own `nowrap:` prefix sizes the box to the author's lines.
 */
export function keepAuthorLineBreaks(source: string): string {
  if (!/^\s*sequenceDiagram\b/m.test(source)) return source;
  return source
    .split('\n')
    .map((line) => line.replace(messageLine, '$1: nowrap:$2'))
    .join('\n');
}

/** The `accTitle:` of a diagram's source, if it has one (mermaid draws it as the SVG's <title>). */
export function accTitleOf(source: string): string | undefined {
  return source.match(/^\s*accTitle\s*:\s*(.+)$/m)?.[1].trim();
}

/** The `accDescr:` (one line) or `accDescr { … }` (several) of a diagram's source, if it has one. */
export function accDescrOf(source: string): string | undefined {
  const one = source.match(/^\s*accDescr\s*:\s*(.+)$/m);
  if (one) return one[1].trim();
  const block = source.match(/^\s*accDescr\s*\{([\s\S]*?)\}/m);
  return block?.[1]
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join(' ');
}
