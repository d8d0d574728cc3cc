#!/usr/bin/env node
import { pino } from 'pino';
import type { Logger } from '../../shared/logger.js';
import { connectionAddresses, connectionCredentials } from '../cli/connection.js';
import { isUsageError } from '../cli/errors.js';
import { ImMad } from './im-mad.js';
import { failureReply } from './im-protocol.js';
import { MAD_USAGE, parseMadArgs, splitGwdArgs, type MadCommand } from './mad-options.js';
import { GwdIdMemory, parentGwd } from './gwd-id-memory.js';
import { NODE_WATCH_DEFAULTS } from './node-watch.js';
import { CoordinatorSiteReader } from './site-reader.js';

// vonode-gw-im-mad: GridWay's Information Manager MAD (DESIGN §6). gwd starts
// it with the IM_MAD args of gwd.conf as ONE argument, writes requests to its
// stdin and reads replies from its stdout: stdout carries the protocol and
// nothing else, so every log line goes to stderr.

/** The pino logger of the MAD, on stderr (fd 2) synchronously, level from VONODE_LOG_LEVEL. */
function madLogger(env: NodeJS.ProcessEnv): Logger {
  const name = 'vonode-gw-im-mad';
  return pino({ name, level: env['VONODE_LOG_LEVEL'] ?? 'info', base: { name, pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
}

async function main(): Promise<number> {
  let command: MadCommand;
  let creds;
  try {
    command = parseMadArgs(splitGwdArgs(process.argv.slice(2)), process.env);
    if (command.help) {
      process.stderr.write(`${MAD_USAGE}\n`);
      return 0;
    }
    creds = connectionCredentials(command.options.connection);
  } catch (e) {
    if (!isUsageError(e)) throw e;
    process.stderr.write(`vonode-gw-im-mad: ${e.message}\n${MAD_USAGE}\n`);
    // gwd reads exactly one line after writing INIT; this FAILURE makes it stop with
    // "Error in Information MAD initialization" instead of running without hosts.
    process.stdout.write(`${failureReply('INIT', `vonode-gw-im-mad: ${e.message}`)}\n`);
    return 2;
  }
  const { options } = command;
  const logger = madLogger(process.env);
  const reader = new CoordinatorSiteReader(connectionAddresses(options.connection), creds);
  const mad = new ImMad({ input: process.stdin, output: process.stdout }, reader, logger, {
    lrmsType: options.lrmsType,
    cpuMhz: options.cpuMhz,
    requestTimeoutMs: options.requestTimeoutMs,
    watch: { ...NODE_WATCH_DEFAULTS, listTimeoutMs: options.requestTimeoutMs },
    // Valid only for the gwd that runs this MAD now (gwd reloads a MAD that died and keeps its ids).
    ...(options.idsFile ? { idMemory: new GwdIdMemory(options.idsFile, parentGwd()) } : {}),
  });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      logger.info({ signal }, 'stopping');
      void mad.shutdown();
    });
  }
  logger.info({ coordinator: options.connection.address, tls: !options.connection.insecure, lrms: options.lrmsType }, 'started; waiting for INIT');
  const end = await mad.start();
  // FINALIZE, or gwd closed our pipes: either way the session is over and so is the process.
  logger.info({ end }, 'exiting');
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`vonode-gw-im-mad: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
