import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** The kernel's ephemeral range (net.ipv4.ip_local_port_range): where bind(0) and connect() take ports from. */
export function ephemeralPortRange(): [number, number] {
  const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  return [low, high];
}

const lowestPicked = 10000;

/**
 * A loopback port free now, for a listener that opens later (a port written into a config, a child
 * that binds it). Picked below the ephemeral range: a port from bind(0) is one that any connect() on
 * the machine may take as its source port before the listener opens, which then fails with "Address
 * already in use".
 */
export async function freePort(): Promise<number> {
  const [ephemeralLow] = ephemeralPortRange();
  for (let tries = 0; ephemeralLow - lowestPicked > 1000 && tries < 50; tries++) {
    const port = await listenAndClose(randomInt(lowestPicked, ephemeralLow)).catch(() => 0);
    if (port) return port;
  }
  return listenAndClose(0);
}

/** Opens a loopback listener on `port` (0: the kernel's pick), closes it, and says which port it had. */
export function listenAndClose(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => {
      const bound = (s.address() as { port: number }).port;
      s.close(() => resolve(bound));
    });
  });
}
