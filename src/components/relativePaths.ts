// Recorded outputs name the recording machine's directories; the site shows them relative: the
// lab's checkout as a relative path, any Go toolchain's sources as $GOROOT/src/, the recorders'
// temporary directories dropped.

/** Where this checkout lives on the machine that built the site (docusaurus.config.ts customFields). */
export function relativePaths(text: string, repoRoot?: string): string {
  let t = text;
  if (repoRoot) t = t.split(repoRoot.replace(/\/$/, '') + '/').join('');
  t = t.replace(/\/(?:[\w.@+-]+\/)*?(?:go|go-1\.\d+|toolchain@[\w.+-]+)\/src\//g, '$GOROOT/src/');
  t = t.replace(/\/tmp\/lab-[\w-]+\//g, '');
  return t;
}
