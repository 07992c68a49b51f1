/** One thing set-up installs: what is missing on this machine, and how to install it. */
export interface SetupStep {
  title: string;
  /** What is missing, or nothing when the step has nothing to do. */
  missing(): Promise<string[]>;
  install(missing: string[]): Promise<void>;
}
