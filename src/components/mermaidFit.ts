// Client module (docusaurus.config.ts clientModules): a diagram wider than the column shrinks to fit
// it, but only as far as its smallest text stays at 12 px or more; past that it keeps that size and
// scrolls in its own box (src/css/custom.css).
const smallestPx = 12.2;

function fit(svg: SVGSVGElement): void {
  const natural = Number(svg.getAttribute('width'));
  if (!natural || svg.dataset.labFit) return;
  let smallest = Infinity;
  svg.querySelectorAll('text, foreignObject div, foreignObject span, foreignObject p').forEach((t) => {
    if (!t.textContent?.trim()) return;
    const px = parseFloat(getComputedStyle(t).fontSize);
    if (px > 0) smallest = Math.min(smallest, px);
  });
  if (smallest === Infinity) return;
  svg.dataset.labFit = '1';
  svg.style.minWidth = `${Math.ceil(natural * Math.min(1, smallestPx / smallest))}px`;
  svg.style.height = 'auto';
}

function fitAll(): void {
  document.querySelectorAll<SVGSVGElement>('.docusaurus-mermaid-container svg[aria-roledescription]').forEach(fit);
}

if (typeof window !== 'undefined') {
  new MutationObserver(fitAll).observe(document.documentElement, { childList: true, subtree: true });
}

export function onRouteDidUpdate(): void {
  fitAll();
}
