import { availableParallelism, loadavg } from 'node:os';

/**
 * How much longer than on an idle machine a wait may take now: the last minute's load per core,
 * between 1× and 4×. Waits are for things that do happen (a page, a kernel, a handshake, a traced
 * call's event); in a room of attendees on two cores, or beside `./lab bench`, they happen later, not never.
 */
export const patience = (): number => Math.min(4, Math.max(1, loadavg()[0] / availableParallelism()));

/** A timeout of `ms` on an idle machine, stretched by the machine's load now. */
export const patient = (ms: number): number => Math.round(ms * patience());
