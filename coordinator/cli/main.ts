#!/usr/bin/env node
// Entry of the `vonode` admin CLI; the commands live in ./commands, the rendering in ./render.
import { processIo } from './cli-io.js';
import { EXIT } from './errors.js';
import { runCli } from './program.js';

// grpc-js passes an IP address as the TLS server name, and Node warns about it (DEP0123) on every
// TLS connection to an IP; the warning is about grpc-js, not something the operator can act on.
process.noDeprecation = true;

const interrupt = new AbortController();
// First Ctrl-C: stop following streams and say what goes on at the coordinator; second: leave at once.
process.on('SIGINT', () => {
  if (interrupt.signal.aborted) process.exit(EXIT.interrupted);
  interrupt.abort();
});

runCli(process.argv.slice(2), processIo(interrupt.signal)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`vonode: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(EXIT.failure);
  },
);
