// A benchmark's way into the coordinator's web console: a fresh bearer token,
// the tokens file that admits it (its SHA-256 only), and the `console`
// section of coordinator.yaml that serves the console on loopback with it.
import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';

/** A console login: the token to type in, and the coordinator config section that accepts it. */
export interface ConsoleLogin {
  token: string;
  tokensFile: string;
  /** BenchSite's coordinatorConfig: `console.listen` on 127.0.0.1:`port`, and the tokens file. */
  coordinatorConfig: { console: { listen: string; tokensFile: string } };
}

/** A fresh token for a console on 127.0.0.1:`port`, its tokens file to be written in `dir` (writeTokensFile). */
export function newConsoleLogin(dir: string, port: number): ConsoleLogin {
  const token = randomBytes(24).toString('hex');
  const tokensFile = path.join(dir, 'console-tokens.yaml');
  return { token, tokensFile, coordinatorConfig: { console: { listen: `127.0.0.1:${port}`, tokensFile } } };
}

/** Writes the tokens file holding the SHA-256 of the login's token (name `bench`). Throws if the write fails. */
export async function writeTokensFile(login: ConsoleLogin): Promise<void> {
  await writeFile(login.tokensFile, stringify({ tokens: [{ name: 'bench', sha256: createHash('sha256').update(login.token).digest('hex') }] }));
}
