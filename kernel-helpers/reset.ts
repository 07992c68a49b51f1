import { closeAllProbes, openProbes } from '../bpf/ts/index.ts';
import { releaseAll } from './registry.ts';
import { liveServers, stopAllServers } from '../engines/managed-server.ts';

/** Closes everything this kernel holds: kept resources, then any probe or server left outside the registry. */
export async function resetLab(): Promise<{ released: string[]; probes: number; servers: number }> {
  const released = await releaseAll();
  const probes = openProbes().length;
  await closeAllProbes(); // resolves once the kernel has released every link and the objects are unloaded
  const servers = liveServers().length;
  await stopAllServers();
  return { released, probes, servers };
}
