/** Notebook cell sources several kernel tests run. */
import type { Evidence } from '../../engines/exercises/index.ts';

/**
 * A cell that crashes a fresh server under a uretprobe, then explains the evidence twice: with
 * the catalog's solution (passes) and with the right slot but the wrong frame (fails).
 */
export function explainLiveCrashCell(evidence: Evidence): string {
  return [
    'const server = await lab.startServer("explain-server");',
    'const exe = await lab.traced(server);',
    'await lab.attach("explain-uretprobe", () => exe.uretprobe("main.demo", { pid: server.pid }));',
    'await server.get("/?arg=3");',
    'const maps = server.maps();',
    'await server.get("/?arg=2000");',
    'const exit = await server.crashed();',
    `await lab.explain("${evidence.name}", ${evidence.solution}, { stderr: exit.stderr, maps: maps });`,
    `await lab.explain("${evidence.name}", { slot: lab.parseCrash(exit.stderr, maps).slot.address, frame: "main.growStack" }, { stderr: exit.stderr, maps: maps });`,
    'await lab.resetLab();',
  ].join('\n');
}
