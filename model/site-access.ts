/**
 * What the site server (site-server.ts) and the site's pages (src/lib/live.ts) agree on about a
 * browser's access to the lab's Jupyter. Browser-safe: no Node here.
 *
 * A browser is let in by two secrets it got from one grant link: an HttpOnly cookie (cookies reach
 * every port of 127.0.0.1, so the cookie alone opens nothing but harmless reads) and a key the grant
 * page stores in localStorage, which only pages of the lab's own origin (scheme, host and port) can
 * read. The page sends the key as its Jupyter token; the proxy checks both and sends the real token.
 */

/** Where a granted page keeps its key to the lab's Jupyter. */
export const siteKeyStorage = 'go-uretprobe-lab.site-key';

/** How long a browser stays let in after it opened a grant link (unless revoked or the lab stops). */
export const accessDays = 7;

/** The command that prints a new one-time link for the running lab (and, with --revoke, shuts every browser out). */
export const openCommandLine = './lab open';
