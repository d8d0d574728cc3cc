import { status } from '@grpc/grpc-js';
import type { Command } from 'commander';
import { isCoordinatorCallError } from '../../../shared/rpc/coordinator-client.js';
import type { CliContext } from '../context.js';
import { CliFailure, EXIT } from '../errors.js';
import { formatEventJson, formatEventLine } from '../render/event-line.js';

/** Registers `vonode events [--json]`: follows every site event until Ctrl-C. */
export function registerEventsCommand(program: Command, ctx: CliContext): void {
  program
    .command('events')
    .description('follow everything that happens on the site, one line per event, until Ctrl-C')
    .option('--json', 'one CoordinatorEvent JSON object per line')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { client } = ctx.coordinator(cmd);
      const format = opts.json ? formatEventJson : formatEventLine;
      try {
        for await (const event of client.watchEvents(ctx.io.signal)) ctx.io.out(`${format(event)}\n`);
      } catch (err) {
        // Ctrl-C cancels the call: that is how following normally ends.
        if (ctx.io.signal.aborted && isCoordinatorCallError(err) && err.code === status.CANCELLED) return;
        throw err;
      }
      if (ctx.io.signal.aborted) return;
      // The coordinator ended the stream (shutdown or restart): a watcher script should notice and reconnect.
      throw new CliFailure(
        [`the coordinator at ${client.address} closed the event stream (restarting?)`, 'hint: run `vonode events` again to keep following'],
        EXIT.failure,
      );
    });
}
