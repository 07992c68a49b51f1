import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const newToken = () => randomBytes(24).toString('base64url');

/** Constant-time comparison; hashing first makes both sides the same length so the length leaks nothing either. */
export function sameToken(given: string | undefined, expected: string): boolean {
  if (!given) return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The token a request carries: `Authorization: Bearer …` or `?token=…` (the console URL). */
export function tokenOf(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ')) return auth.slice(7).trim();
  try {
    return new URL(req.url ?? '/', 'http://x').searchParams.get('token') ?? undefined;
  } catch {
    return undefined; // not a URL at all: no token
  }
}

/** 401 when no token was given, 403 when a wrong one was. */
export function checkInstructor(req: IncomingMessage, expected: string): 200 | 401 | 403 {
  const given = tokenOf(req);
  if (!given) return 401;
  return sameToken(given, expected) ? 200 : 403;
}
