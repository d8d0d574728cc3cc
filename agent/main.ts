#!/usr/bin/env -S node --max-semi-space-size=1 --optimize-for-size
// V8 flags: see agent/node-flags.ts (a shebang cannot import them).
import { runDaemon } from '../shared/daemon/run-daemon.js';
import { Agent } from './agent.js';
import { loadAgentConfig } from './config.js';
import { agentPreflight } from './preflight.js';

runDaemon({
  name: 'vonode-agent',
  usage: `usage: vonode-agent --config /etc/vonode/agent.yaml [--insecure] [--check]

  --config FILE   agent configuration (YAML; see docs/agent.example.yaml)
  --insecure      serve gRPC and dial the coordinator without TLS (local development only)
  --check         check the config file and what starting needs (TLS files, directories,
                  DHCP files, hypervisor programs), writing nothing;
                  exit 2 listing every problem, or print "FILE: OK"`,
  load: loadAgentConfig,
  check: (config, { insecure }) => agentPreflight(config, { insecure }),
  start: async (config, logger, insecure) => {
    const agent = new Agent(config, logger, { insecure });
    await agent.start();
    return agent;
  },
  stopping: 'shutting down; domains keep running',
});
