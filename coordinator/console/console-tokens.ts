import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { ConfigError, parseYamlConfig } from '../../shared/config/load-yaml.js';
import { FileWatch } from '../../shared/fs/file-watch.js';
import type { Logger } from '../../shared/logger.js';

const tokensSchema = z.strictObject({
  tokens: z
    .array(
      z.strictObject({
        /** Who holds it: shown in logs and by /api/whoami. */
        name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/, 'must be 1-64 characters of A-Z a-z 0-9 . _ @ -'),
        /** SHA-256 of the token, hex (printf %s "$TOKEN" | sha256sum). */
        sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits: printf %s "$TOKEN" | sha256sum'),
      }),
    )
    .max(1000)
    .default([]),
});

/** sha256 of a token, as the file stores it. */
export function tokenHash(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/**
 * The console's bearer tokens, read from `tokensFile` (hashes only: the file
 * gives away no token) and read again when it changes. A file that no longer
 * parses keeps the tokens read before, with an error logged: a typo must not
 * lock every admin out, nor let anyone in.
 */
export class ConsoleTokens {
  private entries: Array<{ name: string; hash: Buffer }> = [];
  private watch: FileWatch | undefined;
  private lastText = '';

  private constructor(
    private readonly file: string,
    private readonly logger: Logger,
  ) {}

  /** Reads the file (ConfigError if it is unreadable or invalid) and watches it. */
  static async open(file: string, logger: Logger, pollMs = 2000): Promise<ConsoleTokens> {
    const tokens = new ConsoleTokens(file, logger);
    await tokens.load();
    tokens.watch = new FileWatch(file, () => void tokens.reload(), pollMs);
    await tokens.watch.start();
    return tokens;
  }

  /** The name of the holder of `token`, or undefined. Compares every entry in constant time. */
  holder(token: string): string | undefined {
    const hash = tokenHash(token);
    let found: string | undefined;
    for (const e of this.entries) if (timingSafeEqual(e.hash, hash)) found ??= e.name;
    return found;
  }

  /** How many tokens are loaded. */
  get size(): number {
    return this.entries.length;
  }

  async close(): Promise<void> {
    await this.watch?.stop();
  }

  private async load(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (e) {
      throw new ConfigError(this.file, [`cannot read the console tokens file: ${(e as Error).message}`]);
    }
    const parsed = parseYamlConfig(tokensSchema, text, this.file);
    this.entries = parsed.tokens.map((t) => ({ name: t.name, hash: Buffer.from(t.sha256, 'hex') }));
    this.lastText = text;
  }

  private async reload(): Promise<void> {
    const text = await readFile(this.file, 'utf8').catch(() => undefined);
    if (text === undefined || text === this.lastText) return;
    try {
      await this.load();
      this.logger.info({ file: this.file, tokens: this.entries.length }, 'console tokens reloaded');
    } catch (e) {
      this.lastText = text; // log a bad version once, not at every poll
      this.logger.error({ file: this.file, err: (e as Error).message }, 'console tokens file refused; keeping the tokens read before');
    }
  }
}
