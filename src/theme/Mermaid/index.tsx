// Every mermaid diagram of the site (docs' ```mermaid fences and the notebooks' diagrams) goes through
// this wrapper of @docusaurus/theme-mermaid's component:
// - the source's hand-made line breaks are kept (prepare.ts), so no note or label is cut;
// - the SVG has an accessible name: the source's `accTitle:` (mermaid's <title>), else the heading above it;
// - on a phone, a left-to-right flowchart too wide to read in the column is drawn top to bottom when
//   that is narrower (its vertical variant);
// - a diagram wider than its column gets an "Expand diagram" button that shows it at full size in a
//   dialog (on a phone the diagram itself is scaled to the column, every lane in view: src/css/custom.css);
// - the source's `accDescr` (what the arrows say) is also readable under the diagram, folded.
import { useEffect, useMemo, useRef, useState } from 'react';
import clsx from 'clsx';
import OriginalMermaid from '@theme-original/Mermaid';
import type { Props } from '@theme/Mermaid';
import { accDescrOf, accTitleOf, keepAuthorLineBreaks } from './prepare';
import styles from './styles.module.css';

/** A left-to-right flowchart (its first line), which can be drawn top to bottom instead. */
const sideways = /^(\s*(?:flowchart|graph))\s+(?:LR|RL)\b/m;
/** Where the site's diagrams have their phone layout (src/css/custom.css). */
const phoneQuery = '(max-width: 600px)';
/** Text drawn at 16 px stays readable down to 12 px (src/components/mermaidFit.ts's floor). */
const readableScale = 12 / 16;

/** The text of the nearest heading before `el` in the page: a name for a diagram whose source has no accTitle. */
function headingAbove(el: Element): string | undefined {
  const headings = Array.from(
    document.querySelectorAll('article h1, article h2, article h3, main h1, main h2, main h3'),
  );
  const before = headings.filter((h) => h.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING);
  return (
    before
      .at(-1)
      ?.textContent?.replace(/[#\u200b]/g, '')
      .trim() || undefined
  );
}

export default function Mermaid({ value }: Props) {
  const [variant, setVariant] = useState<'as-written' | 'trying-vertical' | 'vertical'>('as-written');
  /** The as-written drawing a vertical variant is compared with (tried once per diagram). */
  const tried = useRef<{ svg: Element; width: number } | null>(null);
  const source = useMemo(() => {
    const kept = keepAuthorLineBreaks(value);
    return variant === 'as-written' ? kept : kept.replace(sideways, '$1 TB');
  }, [value, variant]);
  const title = accTitleOf(value);
  const words = accDescrOf(value);
  const box = useRef<HTMLDivElement>(null);
  const dialog = useRef<HTMLDialogElement>(null);
  const [name, setName] = useState(title);
  const [wide, setWide] = useState(false);
  const [zoomed, setZoomed] = useState<string | null>(null);
  const [fitted, setFitted] = useState(false);

  // The SVG is drawn after hydration (and again when the colour mode changes): name it, measure it.
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const check = () => {
      const svg = el.querySelector<SVGSVGElement>('.docusaurus-mermaid-container svg');
      if (!svg) return;
      // Mermaid binds a tooltip to every flowchart node whose d3 lacks transitions in this build: each
      // hover (and leave) threw "e.transition is not a function". Our diagrams have no tooltips; the hover stops here.
      if (!svg.dataset.labNoTooltips) {
        svg.dataset.labNoTooltips = 'true';
        for (const type of ['mouseover', 'mouseout']) svg.addEventListener(type, (e) => e.stopPropagation(), true);
      }
      const labelled = svg.getAttribute('aria-labelledby');
      if (!title && !svg.getAttribute('aria-label') && !(labelled && document.getElementById(labelled))) {
        const fallback = `Diagram: ${headingAbove(el) ?? document.title}`;
        svg.setAttribute('aria-label', fallback);
        setName(fallback);
      }
      const natural = Number(svg.getAttribute('width')) || svg.viewBox.baseVal.width;
      const column = el.clientWidth;
      if (variant === 'as-written' && !tried.current && sideways.test(value) && matchMedia(phoneQuery).matches) {
        if (natural * readableScale > column) {
          tried.current = { svg, width: natural };
          setVariant('trying-vertical');
          return;
        }
      }
      // The vertical drawing is kept when it is the narrower one; otherwise back to the diagram as written.
      if (variant === 'trying-vertical' && tried.current && svg !== tried.current.svg) {
        setVariant(natural < tried.current.width ? 'vertical' : 'as-written');
      }
      setWide(natural > column + 1);
    };
    const added = new MutationObserver(check);
    added.observe(el, { childList: true, subtree: true });
    const resized = new ResizeObserver(check);
    resized.observe(el);
    check();
    return () => {
      added.disconnect();
      resized.disconnect();
    };
  }, [title, variant, value]);

  useEffect(() => {
    if (zoomed && !dialog.current?.open) dialog.current?.showModal();
  }, [zoomed]);

  const expand = () => {
    const svg = box.current?.querySelector<SVGSVGElement>('.docusaurus-mermaid-container svg');
    if (!svg?.id) return;
    // A copy at its natural size; its ids (which its own <style> and arrow markers refer to) made unique.
    const copy = svg.cloneNode(true) as SVGSVGElement;
    copy.removeAttribute('style');
    copy.removeAttribute('data-lab-fit');
    setZoomed(copy.outerHTML.replaceAll(svg.id, `${svg.id}-zoom`));
  };

  return (
    <div ref={box} className={styles.diagram} data-lab-diagram={wide ? 'wide' : 'fits'} data-lab-variant={variant}>
      <OriginalMermaid value={source} />
      {(wide || words) && (
        <div className={styles.under}>
          {words && (
            <details className={styles.words}>
              <summary>The diagram in words</summary>
              <p>{words}</p>
            </details>
          )}
          {wide && (
            <button
              type="button"
              className={`button button--sm button--secondary ${styles.expand}`}
              onClick={expand}
              aria-label={`Expand diagram${name ? `: ${name}` : ''}`}
              aria-haspopup="dialog"
            >
              <span aria-hidden="true">⤢ </span>Expand diagram
            </button>
          )}
        </div>
      )}
      {zoomed && (
        <dialog
          ref={dialog}
          className={styles.zoom}
          aria-label={name ?? 'Diagram'}
          onClose={() => setZoomed(null)}
          data-testid="diagram-zoom"
        >
          <div className={styles.zoomBar}>
            <span className={styles.zoomTitle}>{name}</span>
            <button type="button" className="button button--sm button--secondary" onClick={() => setFitted(!fitted)}>
              {fitted ? 'Actual size' : 'Fit to screen'}
            </button>
            <button
              type="button"
              className="button button--sm button--primary"
              onClick={() => dialog.current?.close()}
              // biome-ignore lint/a11y/noAutofocus: the dialog's way out takes the focus when it opens (Esc closes it too)
              autoFocus
            >
              Close
            </button>
          </div>
          <div
            className={clsx(styles.zoomBody, fitted && styles.fitted)}
            dangerouslySetInnerHTML={{ __html: zoomed }}
          />
        </dialog>
      )}
    </div>
  );
}
