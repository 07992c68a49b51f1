/**
 * Kinds of LabError that code tests for, as cilium/ebpf's errors.Is(err, ErrNotSupported) does: the
 * message is for people and may change; the kind is for code and does not.
 */
export const labErrorKinds = {
  /** The function has no symbol of its own: the compiler copied its body into every caller. */
  inlined: 'inlined everywhere',
} as const;
export type LabErrorKind = keyof typeof labErrorKinds;

/** An error the user can act on: what went wrong and what to do, on one line. */
export class LabError extends Error {
  /** What went wrong, without the fix. */
  readonly what: string;
  readonly kind?: LabErrorKind;

  constructor(
    what: string,
    readonly fix?: string,
    options?: ErrorOptions & { kind?: LabErrorKind },
  ) {
    super(fix ? `${what} — ${fix}` : what, options);
    this.name = 'LabError';
    this.what = what;
    this.kind = options?.kind;
  }
}

/** A LabError, and of this kind when one is given. */
export const isLabError = (e: unknown, kind?: LabErrorKind): e is LabError =>
  e instanceof LabError && (kind === undefined || e.kind === kind);
