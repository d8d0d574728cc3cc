#!/usr/bin/env node
import { runDaemon } from '../shared/daemon/run-daemon.js';
import { loadCoordinatorConfig } from './config.js';
import { Coordinator } from './coordinator.js';

runDaemon({
  name: 'vonode-coordinator',
  usage: `usage: vonode-coordinator --config /etc/vonode/coordinator.yaml [--insecure]

  --config FILE   coordinator configuration (YAML; see docs/coordinator.example.yaml)
  --insecure      serve gRPC and dial agents without TLS (local development only)
  --check         validate the config file and exit`,
  load: loadCoordinatorConfig,
  start: async (config, logger, insecure) => {
    const coordinator = new Coordinator(config, logger, { insecure });
    await coordinator.start();
    return coordinator;
  },
  stopping: 'shutting down; interrupted operations resume at the next start',
});
