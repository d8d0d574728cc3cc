import { parseArgs } from 'node:util';
import { resolveConnection, type Connection } from '../cli/connection.js';
import { UsageError } from '../cli/errors.js';

/** The MAD's command line, as an operator writes it in gwd.conf's IM_MAD args field. */
export const MAD_USAGE = `usage: vonode-gw-im-mad [-c HOST:PORT[,HOST:PORT...]] [--ca F --cert F --key F | --insecure] [--lrms TYPE] [--cpu-mhz N] [--timeout S] [--ids-file F]

  -c, --coordinator HOST:PORT  coordinator address, or every coordinator of an HA site separated by
                               commas, no blanks (default $VONODE_COORDINATOR, else 127.0.0.1:7080)
  --ca/--cert/--key FILE       mutual TLS files (default $VONODE_TLS_CA/_CERT/_KEY)
  --insecure                   plaintext gRPC (local development only)
  --lrms TYPE                  LRMS_TYPE reported for every node (default sge)
  --cpu-mhz N                  CPU_MHZ reported for every node (default 0: unknown)
  --timeout S                  seconds a request may wait for the coordinator before FAILURE (default 5)
  --ids-file F                 keep gwd's host ids in F (absolute path) for a restart of this MAD by
                               the same gwd process (used only if F names that gwd); default: none

gwd passes the whole IM_MAD args field as ONE argument; it is split on blanks here.
In gwd.conf a ':' inside the args must be written '\\:' (gwd splits the line on ':'), e.g.
  IM_MAD = vonode:vonode-gw-im-mad:-c 10.0.0.1\\:7080 --ca /etc/vonode/ca.pem ...:dummy:dummy`;

/** The compiled options of one MAD process. */
export interface MadOptions {
  /** Where and how to reach the coordinator (connectionAddresses gives every coordinator of an HA site). */
  connection: Connection;
  /** LRMS_TYPE of every node (default "sge"). */
  lrmsType: string;
  /** CPU_MHZ of every node (default 0, unknown). */
  cpuMhz: number;
  /** Deadline of a request's coordinator calls, in ms (default 5000). */
  requestTimeoutMs: number;
  /** gwd's host ids, kept for a restart of this MAD by the same gwd ('' = in memory only). */
  idsFile: string;
}

/** What the command line asks for: run with options, or print the usage. */
export type MadCommand = { help: true } | { help: false; options: MadOptions };

const DEFAULT_TIMEOUT_S = 5;
const LRMS = /^[A-Za-z0-9_.+-]{1,32}$/;

/**
 * The words of the MAD's command line. gwd execs the MAD with its whole
 * argument string as one argv entry (or none when the field is empty); a
 * shell gives several. Both are joined and split on blanks, so quoting is
 * not supported (paths with blanks cannot be passed).
 */
export function splitGwdArgs(argv: readonly string[]): string[] {
  return argv.join(' ').split(/\s+/).filter((w) => w !== '');
}

/**
 * Compiles the command line (already split) and the environment into options:
 * a flag wins over its VONODE_* variable. Throws UsageError naming the option.
 */
export function parseMadArgs(words: readonly string[], env: Readonly<Record<string, string | undefined>>): MadCommand {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...words],
      allowPositionals: false,
      options: {
        coordinator: { type: 'string', short: 'c' },
        ca: { type: 'string' },
        cert: { type: 'string' },
        key: { type: 'string' },
        insecure: { type: 'boolean', default: false },
        lrms: { type: 'string', default: 'sge' },
        'cpu-mhz': { type: 'string', default: '0' },
        timeout: { type: 'string', default: String(DEFAULT_TIMEOUT_S) },
        'ids-file': { type: 'string', default: '' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help) return { help: true };
  if (!LRMS.test(values.lrms)) throw new UsageError(`--lrms "${values.lrms}": use 1 to 32 of letters, digits and _.+- (e.g. sge, slurm)`);
  const cpuMhz = Number(values['cpu-mhz']);
  if (!/^\d{1,7}$/.test(values['cpu-mhz'])) throw new UsageError(`--cpu-mhz "${values['cpu-mhz']}": use a whole number of MHz, e.g. 2400`);
  const timeout = Number(values.timeout);
  if (!/^\d+(\.\d+)?$/.test(values.timeout) || timeout <= 0 || timeout > 300) {
    throw new UsageError(`--timeout "${values.timeout}": use seconds above 0 and at most 300, e.g. 5`);
  }
  const connection = resolveConnection(
    {
      ...(values.coordinator !== undefined ? { coordinator: values.coordinator } : {}),
      ...(values.ca !== undefined ? { ca: values.ca } : {}),
      ...(values.cert !== undefined ? { cert: values.cert } : {}),
      ...(values.key !== undefined ? { key: values.key } : {}),
      insecure: values.insecure,
      timeout,
    },
    env,
  );
  if (values['ids-file'] && !/^\/[A-Za-z0-9._/+@-]+$/.test(values['ids-file'])) throw new UsageError(`--ids-file "${values['ids-file']}": use an absolute path of [A-Za-z0-9._/+@-]`);
  return { help: false, options: { connection, lrmsType: values.lrms, cpuMhz, requestTimeoutMs: connection.timeoutMs, idsFile: values['ids-file'] } };
}
