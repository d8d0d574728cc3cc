#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ConfigError } from '../shared/config/load-yaml.js';
import { createLogger } from '../shared/logger.js';
import { loadCoordinatorConfig } from './config.js';
import { Coordinator } from './coordinator.js';

// node:util parseArgs is enough for a daemon with three flags; the admin CLI uses commander.
const USAGE = `usage: vonode-coordinator --config /etc/vonode/coordinator.yaml [--insecure]

  --config FILE   coordinator configuration (YAML; see docs/coordinator.example.yaml)
  --insecure      serve gRPC and dial agents without TLS (local development only)
  --check         validate the config file and exit`;

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: { config: { type: 'string' }, insecure: { type: 'boolean', default: false }, check: { type: 'boolean', default: false }, help: { type: 'boolean' } },
    }));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help || !values.config) {
    process.stderr.write(USAGE + '\n');
    return values.help ? 0 : 2;
  }
  const logger = createLogger('vonode-coordinator');
  let coordinator: Coordinator;
  try {
    const config = await loadCoordinatorConfig(values.config);
    if (values.check) {
      process.stdout.write(`${values.config}: OK\n`);
      return 0;
    }
    coordinator = new Coordinator(config, logger, { insecure: values.insecure ?? false });
    await coordinator.start();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      return 2;
    }
    throw e;
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      logger.info({ signal }, 'shutting down; interrupted operations resume at the next start');
      coordinator.shutdown().then(resolve, resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`vonode-coordinator: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
