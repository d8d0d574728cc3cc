#!/usr/bin/env node
import { runDaemon } from '../shared/daemon/run-daemon.js';
import { loadCoordinatorConfig } from './config.js';
import { Coordinator } from './coordinator.js';
import { coordinatorPreflight } from './preflight.js';
import { runMigrateStore } from './store/migrate-store-command.js';

if (process.argv[2] === 'migrate-store') {
  runMigrateStore(process.argv.slice(3));
} else {
  runDaemon({
    name: 'vonode-coordinator',
    usage: `usage: vonode-coordinator --config /etc/vonode/coordinator.yaml [--insecure] [--check]
       vonode-coordinator migrate-store --from sqlite:FILE --to etcd:URL[,URL...][?prefix=/vonode/] [...]

  --config FILE   coordinator configuration (YAML; see docs/coordinator.example.yaml)
  --insecure      serve gRPC and dial agents without TLS (local development only)
  --check         check the config file and what starting needs (the policy file, TLS files,
                  the state database's directory, batch-system programs), writing nothing;
                  exit 2 listing every problem, or print "FILE: OK"
  migrate-store   copy a stopped coordinator's SQLite state once into an empty etcd prefix,
                  the step to several coordinators (migrate-store --help; docs/ha.md)`,
    load: loadCoordinatorConfig,
    check: (config, { insecure }) => coordinatorPreflight(config, { insecure }),
    start: async (config, logger, insecure) => {
      const coordinator = new Coordinator(config, logger, { insecure });
      await coordinator.start();
      return coordinator;
    },
    stopping: 'shutting down; interrupted operations resume at the next start',
  });
}
