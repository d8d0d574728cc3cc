/**
 * The `vonode-coordinator migrate-store` command line: usage, arguments,
 * exit codes and output; the copy itself is migrate-store.ts.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { errorMessage } from '../../shared/errors.js';
import { coordinatorConfigSchema } from '../config.js';
import { migrate, Refused, type MigrateStoreArgs, type MigrateStoreIo, type MigrateStoreSummary } from './migrate-store.js';

export const MIGRATE_STORE_USAGE = `usage: vonode-coordinator migrate-store --from sqlite:FILE --to etcd:URL[,URL...][?prefix=/vonode/]
         [--etcd-ca FILE --etcd-cert FILE --etcd-key FILE] [--etcd-max-txn-ops N] [--json]

Copies a site's whole state (leases, operations, phases, usage records) once from the SQLite
database of a single coordinator into an empty prefix of an etcd cluster, then
reads it back and compares. Stop the coordinator first: the database is only
read (copied aside), and refused while a process holds it open. Then set
store.etcd (and advertise) in every coordinator's config and start them
(docs/ha.md).

  --from sqlite:FILE     the coordinator's stateDb, e.g. sqlite:/var/lib/vonode-coordinator/state.db
  --to etcd:URLS         the etcd members' client URLs, comma-separated, each http(s)://host:port;
                         ?prefix=/P/ is the site's key prefix (store.etcd.prefix, default /vonode/)
  --etcd-ca FILE, --etcd-cert FILE, --etcd-key FILE
                         client TLS towards etcd, all three (store.etcd.tls)
  --etcd-max-txn-ops N   the members' --max-txn-ops (store.etcd.maxTxnOps, default 128)
  --json                 print the summary as JSON

exit 0: copied and verified; 2: usage error, or refused (the prefix is not empty, the
database is in use or is not a vonode state database), nothing written; 1: failed while
writing or verifying (the prefix may hold a partial copy: delete it with
etcdctl del --prefix P, then run again).`;

/** A bad command line: exit 2 with the usage. */
class UsageError extends Error {}

const etcdSchema = coordinatorConfigSchema.shape.store.unwrap().shape.etcd.unwrap();

/** Parses `migrate-store`'s arguments (after the subcommand); 'help' for --help. Throws UsageError. */
export function parseMigrateStoreArgs(argv: readonly string[]): MigrateStoreArgs | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        from: { type: 'string' },
        to: { type: 'string' },
        'etcd-ca': { type: 'string' },
        'etcd-cert': { type: 'string' },
        'etcd-key': { type: 'string' },
        'etcd-max-txn-ops': { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    throw new UsageError(errorMessage(e));
  }
  if (values.help) return 'help';
  if (!values.from) throw new UsageError('--from sqlite:FILE is required (the coordinator\'s stateDb)');
  if (!values.to) throw new UsageError('--to etcd:URL[,URL...][?prefix=/vonode/] is required');

  const fromMatch = /^sqlite:(.+)$/.exec(values.from);
  if (!fromMatch) throw new UsageError(`--from "${values.from}" must be sqlite:FILE, e.g. sqlite:/var/lib/vonode-coordinator/state.db`);
  const from = path.resolve(fromMatch[1]!);

  const toExample = 'e.g. etcd:http://10.0.0.1:2379,http://10.0.0.2:2379?prefix=/vonode/';
  if (!values.to.startsWith('etcd:')) throw new UsageError(`--to "${values.to}" must be etcd:URL[,URL...][?prefix=/P/], ${toExample}`);
  const rest = values.to.slice('etcd:'.length);
  const q = rest.indexOf('?');
  const endpoints = (q < 0 ? rest : rest.slice(0, q)).split(',').map((s) => s.trim());
  const query = new URLSearchParams(q < 0 ? '' : rest.slice(q + 1));
  for (const key of query.keys()) if (key !== 'prefix') throw new UsageError(`--to: unknown parameter "${key}" (only ?prefix=/P/)`);
  if (endpoints.some((e) => e === '')) throw new UsageError(`--to "${values.to}" has an empty endpoint, ${toExample}`);

  const tlsFiles = [values['etcd-ca'], values['etcd-cert'], values['etcd-key']];
  const tlsGiven = tlsFiles.filter((f) => f !== undefined).length;
  if (tlsGiven !== 0 && tlsGiven !== 3) throw new UsageError('give --etcd-ca, --etcd-cert and --etcd-key together (client TLS towards etcd), or none');
  const [ca, cert, key] = tlsFiles.map((f) => f && path.resolve(f));

  const maxTxnOpsText = values['etcd-max-txn-ops'];
  if (maxTxnOpsText !== undefined && !/^\d+$/.test(maxTxnOpsText)) throw new UsageError(`--etcd-max-txn-ops "${maxTxnOpsText}" must be a whole number`);

  const parsed = etcdSchema.safeParse({
    endpoints,
    ...(query.has('prefix') ? { prefix: query.get('prefix') } : {}),
    ...(tlsGiven ? { tls: { ca, cert, key } } : {}),
    ...(maxTxnOpsText !== undefined ? { maxTxnOps: Number(maxTxnOpsText) } : {}),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const [field, index] = issue.path;
    const what =
      field === 'endpoints' && typeof index === 'number' ? `--to: endpoint "${endpoints[index]}"`
      : field === 'prefix' ? `--to: prefix "${query.get('prefix')}"`
      : field === 'tls' ? `--etcd-${String(index)}`
      : field === 'maxTxnOps' ? '--etcd-max-txn-ops'
      : `--to (${issue.path.join('.')})`;
    throw new UsageError(`${what} ${issue.message}${field === 'endpoints' ? `, ${toExample}` : ''}`);
  }
  return { from, etcd: parsed.data, json: values.json ?? false };
}

/** Runs the subcommand; resolves with the exit code. */
export async function migrateStore(argv: readonly string[], io: MigrateStoreIo): Promise<number> {
  let args: MigrateStoreArgs | 'help';
  try {
    args = parseMigrateStoreArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.err(`vonode-coordinator migrate-store: ${e.message}\n\n${MIGRATE_STORE_USAGE}\n`);
    return 2;
  }
  if (args === 'help') {
    io.out(`${MIGRATE_STORE_USAGE}\n`);
    return 0;
  }
  try {
    const summary = await migrate(args, io);
    io.out(args.json ? `${JSON.stringify(summary)}\n` : formatSummary(summary));
    return 0;
  } catch (e) {
    io.err(`vonode-coordinator migrate-store: ${errorMessage(e)}\n`);
    return e instanceof Refused ? 2 : 1;
  }
}

/** The subcommand as a process: exits with its code. Never returns. */
export function runMigrateStore(argv: readonly string[]): void {
  const io: MigrateStoreIo = { out: (t) => void process.stdout.write(t), err: (t) => void process.stderr.write(t) };
  migrateStore(argv, io).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`vonode-coordinator migrate-store: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}

// ---- output ----

function formatSummary(s: MigrateStoreSummary): string {
  const rows: Array<[string, number]> = [
    ['leases', s.nodes],
    ['open operations', s.openOperations],
    ['finished operations', s.finishedOperations],
    ['phases', s.phases],
    ['usage records', s.usageRecords],
    ['last seq', s.lastSeq],
  ];
  const width = Math.max(6, ...rows.map(([, n]) => String(n).length));
  const line = (label: string, a: string, b: string): string => `${label.padEnd(21)}${a.padStart(width)}  ${b.padStart(width)}\n`;
  return [
    `migrated ${s.from} -> ${s.to} prefix ${s.prefix}\n\n`,
    line('', 'sqlite', 'etcd'),
    ...rows.map(([label, n]) => line(label, String(n), String(n))),
    `\nverified: read back from etcd, every count, lease (hostname, IP, MAC) and open operation matches (${s.seconds.toFixed(2)} s)\n`,
    `next: set store.etcd (endpoints, prefix ${s.prefix}) and advertise in every coordinator's config, then start them (docs/ha.md)\n`,
  ].join('');
}
