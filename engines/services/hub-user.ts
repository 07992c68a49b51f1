/** Driving one attendee's notebook server through the hub's REST API, as a program (not a browser) does. */
import { KernelManager, ServerConnection, SessionManager } from '@jupyterlab/services';
import WebSocket from 'ws';
import { LabError } from '../../core/errors.ts';
import type { RunningHub } from './hub.ts';

/**
 * Starts `name`'s notebook server unless it runs already (a room of containers starts them with
 * the room), waits until the hub says it is ready, and returns an API token for it.
 */
export async function startUserServer(
  hub: Pick<RunningHub, 'api' | 'apiToken' | 'url'>,
  name: string,
  note: string,
): Promise<string> {
  const server = async () =>
    (await hub.api<{ servers?: Record<string, { ready: boolean }> }>(`/users/${name}`)).servers?.[''];
  if (!(await server())) await hub.api(`/users/${name}/server`, 'POST');
  for (let i = 0; i < 600; i++) {
    if ((await server())?.ready) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const t = await fetch(`${hub.url}hub/api/users/${name}/tokens`, {
    method: 'POST',
    headers: { Authorization: `token ${hub.apiToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ expires_in: 3600, note }),
  });
  if (t.status !== 201) throw new LabError(`the hub gave no token for ${name} (HTTP ${t.status})`, 'see the hub log');
  return ((await t.json()) as { token: string }).token;
}

/** Kernel and session managers for `name`'s notebook server behind the hub. */
export function userSessions(hubUrl: string, name: string, token: string) {
  const baseUrl = `${hubUrl}user/${name}/`;
  // JupyterHub's servers take a token in a header only, never in a WebSocket URL (a browser signs in with cookies).
  class WithToken extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols, { headers: { Authorization: `token ${token}` } });
    }
  }
  const serverSettings = ServerConnection.makeSettings({
    baseUrl,
    wsUrl: baseUrl.replace(/^http/, 'ws'),
    token,
    appendToken: false,
    WebSocket: WithToken as unknown as typeof globalThis.WebSocket,
  });
  const km = new KernelManager({ serverSettings });
  const sm = new SessionManager({ serverSettings, kernelManager: km });
  return { km, sm };
}
