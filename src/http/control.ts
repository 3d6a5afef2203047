// The agent's control socket: the requests that change what the agent holds
// (today: emptying the record of denied flows). A Unix socket in the state
// dir (0700, root's): only who may write the state dir may ask, unlike the
// status server, which any local user can read.
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { agentFastify } from './server.js';

export const CONTROL_SOCKET = 'control.sock';

export interface ControlActions {
  resetDenied(): Promise<void>;
}

export function controlSocket(stateDir: string): string {
  return path.join(stateDir, CONTROL_SOCKET);
}

export async function listenControl(stateDir: string, actions: ControlActions): Promise<FastifyInstance> {
  const app = agentFastify();
  app.post('/denied/reset', async () => {
    await actions.resetDenied();
    return { reset: true };
  });
  const file = controlSocket(stateDir);
  await mkdir(stateDir, { recursive: true, mode: 0o700 }); // a new node: nothing was saved yet
  await rm(file, { force: true }); // left by an agent that did not stop cleanly
  await app.listen({ path: file });
  return app;
}
