#!/usr/bin/env -S node --max-semi-space-size=1 --optimize-for-size
// V8 flags: see agent/node-flags.ts (a shebang cannot import them).
import { runDaemon } from '../shared/daemon/run-daemon.js';
import { Agent } from './agent.js';
import { loadAgentConfig } from './config.js';

runDaemon({
  name: 'vonode-agent',
  usage: `usage: vonode-agent --config /etc/vonode/agent.yaml [--insecure]

  --config FILE   agent configuration (YAML; see docs/agent.example.yaml)
  --insecure      serve gRPC and dial the coordinator without TLS (local development only)
  --check         validate the config file and exit`,
  load: loadAgentConfig,
  start: async (config, logger, insecure) => {
    const agent = new Agent(config, logger, { insecure });
    await agent.start();
    return agent;
  },
  stopping: 'shutting down; domains keep running',
});
