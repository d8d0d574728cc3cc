#!/usr/bin/env -S node --max-semi-space-size=1 --optimize-for-size
// V8 flags: see agent/node-flags.ts (a shebang cannot import them).
import { parseArgs } from 'node:util';
import { ConfigError } from '../shared/config/load-yaml.js';
import { createLogger } from '../shared/logger.js';
import { Agent } from './agent.js';
import { loadAgentConfig } from './config.js';

// node:util parseArgs is enough for a daemon with three flags; the CLI uses a full parser.
const USAGE = `usage: vonode-agent --config /etc/vonode/agent.yaml [--insecure]

  --config FILE   agent configuration (YAML)
  --insecure      serve gRPC and dial the coordinator without TLS (local development only)
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
  const logger = createLogger('vonode-agent');
  let config;
  try {
    config = await loadAgentConfig(values.config);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      return 2;
    }
    throw e;
  }
  if (values.check) {
    process.stdout.write(`${values.config}: OK\n`);
    return 0;
  }
  const agent = new Agent(config, logger, { insecure: values.insecure ?? false });
  await agent.start();
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      logger.info({ signal }, 'shutting down; domains keep running');
      agent.shutdown().then(resolve, resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`vonode-agent: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
