/** Drives bench/goloop: a Go process that calls main.work N times on request and reports ns per call. */
import { goloopBinary } from './build.ts';
import { startChild, type Child } from './child.ts';

export class GoLoop implements AsyncDisposable {
  private constructor(private readonly child: Child) {}

  static async start(binary = goloopBinary): Promise<GoLoop> {
    return new GoLoop(await startChild(binary, [], { ready: /ready pid/, stdin: true }));
  }

  get pid(): number {
    return this.child.pid;
  }

  alive(): boolean {
    return this.child.alive();
  }

  /** Why it died, when it did: the Go runtime's first lines. */
  death(): string {
    return this.child.stderr().split('\n').filter((l) => l && !l.startsWith('ready')).slice(0, 2).join(' | ');
  }

  /** Runs `calls` calls of main.work: nanoseconds per call, wall clock and the loop thread's CPU time (undefined: the process died). */
  async run(calls: number): Promise<{ wall: number; cpu: number } | undefined> {
    if (!this.alive()) return undefined;
    this.child.process.stdin!.write(`${calls}\n`);
    try {
      const r = JSON.parse(await this.child.nextLine(120000)) as { calls: number; ns_per_op: number; cpu_ns_per_op: number };
      return { wall: r.ns_per_op, cpu: r.cpu_ns_per_op };
    } catch {
      if (this.alive()) throw new Error(`goloop stopped answering: ${this.death()}`);
      return undefined;
    }
  }

  async stop(): Promise<void> {
    this.child.process.stdin!.end();
    await this.child.stop();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
