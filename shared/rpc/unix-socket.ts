import { createConnection } from 'node:net';
import { rm, stat } from 'node:fs/promises';

/**
 * Removes the socket file of a `unix:/path` listen address left behind by a
 * crashed process, so a restart can bind again. Refuses (throws) if a live
 * process still answers on it: two daemons must not share one socket.
 */
export async function clearStaleUnixSocket(address: string): Promise<void> {
  if (!address.startsWith('unix:')) return;
  const file = address.slice('unix:'.length);
  const isSocket = await stat(file).then((s) => s.isSocket(), () => false);
  if (!isSocket) return;
  const alive = await new Promise<boolean>((resolve) => {
    const c = createConnection(file);
    c.once('connect', () => (c.destroy(), resolve(true)));
    c.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`${file} is in use by a running process: is another daemon already listening there?`);
  await rm(file, { force: true });
}
