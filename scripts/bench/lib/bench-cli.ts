import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A benchmark's command line: its name and usage line, for messages. */
export interface BenchCli {
  name: string;
  usage: string;
}

/** Prints `message` and the usage to stderr and exits 2 (a bad flag, before anything runs). */
export function usageError(cli: BenchCli, message: string): never {
  process.stderr.write(`${cli.name}: ${message}\n${cli.usage}\n`);
  process.exit(2);
}

/**
 * Parses a benchmark's flags (plus `--help`/`-h` and `--json FILE`): prints
 * the usage and exits 0 on --help, exits 2 with the usage on an unknown or
 * malformed flag or an empty --json.
 */
const COMMON = { json: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } } as const;

export function parseBenchArgs<O extends NonNullable<ParseArgsConfig['options']>>(cli: BenchCli, options: O): ReturnType<typeof parseArgs<{ options: O & typeof COMMON }>>['values'] {
  let values: ReturnType<typeof parseArgs<{ options: O & typeof COMMON }>>['values'];
  try {
    values = parseArgs<{ options: O & typeof COMMON }>({ options: { ...options, ...COMMON } }).values;
  } catch (err) {
    return usageError(cli, err instanceof Error ? err.message : String(err));
  }
  const common = values as { help?: boolean; json?: string };
  if (common.help) {
    process.stdout.write(`${cli.usage}\n`);
    process.exit(0);
  }
  if (common.json === '') usageError(cli, '--json needs a file name');
  return values;
}
