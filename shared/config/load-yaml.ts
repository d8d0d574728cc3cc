import { readFile } from 'node:fs/promises';
import type { z } from 'zod';
import { parseStrictYaml } from './strict-yaml.js';

/** A config file that failed to parse or validate; the message names every bad field. */
export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** Parses YAML text and validates it against a zod schema. Throws ConfigError naming each field. */
export function parseYamlConfig<S extends z.ZodType>(schema: S, text: string, file: string): z.output<S> {
  let raw: unknown;
  try {
    raw = parseStrictYaml(text);
  } catch (e) {
    throw new ConfigError(file, [`not valid YAML: ${(e as Error).message}`]);
  }
  const result = schema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(
      file,
      result.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(top level)'}: ${i.message}`),
    );
  }
  return result.data;
}

/** Reads and validates a YAML config file. Throws ConfigError. */
export async function loadYamlConfig<S extends z.ZodType>(schema: S, file: string): Promise<z.output<S>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, [`cannot read: ${(e as Error).message}`]);
  }
  return parseYamlConfig(schema, text, file);
}
