/** An error the user can act on: what went wrong and what to do, on one line. */
export class LabError extends Error {
  constructor(
    what: string,
    readonly fix?: string,
    options?: ErrorOptions,
  ) {
    super(fix ? `${what} — ${fix}` : what, options);
    this.name = 'LabError';
  }
}
