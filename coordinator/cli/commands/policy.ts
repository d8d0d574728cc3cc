import { readFile } from 'node:fs/promises';
import { status } from '@grpc/grpc-js';
import type { Command } from 'commander';
import { PolicyResponse } from '../../../shared/gen/vonode/v1/coordinator.js';
import { isCoordinatorCallError } from '../../../shared/rpc/coordinator-client.js';
import { wholeNumber } from '../arg-parsers.js';

/** Largest --capacity: the policy's largest node count (min, max), so any pool a policy can describe. */
const MAX_POOL_CAPACITY = 100_000;
import { useColor } from '../cli-io.js';
import type { CliContext } from '../context.js';
import { CliFailure, EXIT } from '../errors.js';
import { renderPolicyStatus } from '../render/status-view.js';

/** `vonode policy show`: the policy text with its status as leading YAML comments (so it can be saved and edited). */
async function showPolicy(ctx: CliContext, cmd: Command, json: boolean): Promise<void> {
  const { client, conn } = ctx.coordinator(cmd);
  const res = await ctx.call(conn, client.getPolicy());
  if (json) {
    ctx.printJson(PolicyResponse.toJSON(res));
    return;
  }
  const statusLines = renderPolicyStatus(res.status, { nowMs: ctx.io.now(), color: false });
  ctx.print(statusLines.filter((l) => !l.startsWith('!!!')).map((l) => `# ${l}`));
  ctx.io.out(res.yaml.endsWith('\n') || !res.yaml ? res.yaml : `${res.yaml}\n`);
  // A rejected file goes to stderr, loudly, so it is seen even when stdout is redirected to a file.
  const loud = renderPolicyStatus(res.status, { nowMs: ctx.io.now(), color: useColor(ctx.io) }).filter((l) => l.includes('!!!'));
  if (loud.length) ctx.io.err(`${loud.join('\n')}\n`);
}

/**
 * `vonode policy check FILE`: offline validation with the coordinator's own
 * checker (no connection, no TLS). The checker (and with it zod and the
 * schema) is imported here only, lazily, so other commands do not load it.
 */
async function checkPolicy(ctx: CliContext, file: string, capacity: number | undefined): Promise<void> {
  const { checkPolicyFile } = await import('../../policy/policy-check.js');
  const result = await checkPolicyFile(file, capacity === undefined ? {} : { capacity });
  if (!result.ok) {
    const n = result.problems.length;
    throw new CliFailure([
      `${file}: invalid policy, ${n} problem${n === 1 ? '' : 's'}:`,
      ...result.problems.map((p) => `  ${p.path}: ${p.message}`),
    ]);
  }
  const vos = result.policy.vos.map((v) => `${v.name} (weight ${v.weight}, ${v.min}..${v.max} nodes, queue ${v.queue})`);
  ctx.print([`${file}: OK, ${vos.length} VO${vos.length === 1 ? '' : 's'}: ${vos.join(', ')}`, ...result.warnings.map((w) => `warning: ${w.path}: ${w.message}`)]);
}

/** `vonode policy apply FILE`: sends the file; the coordinator validates it and lists every problem when it refuses. */
async function applyPolicy(ctx: CliContext, cmd: Command, file: string): Promise<void> {
  let yaml: string;
  try {
    yaml = await readFile(file, 'utf8');
  } catch (e) {
    throw new CliFailure([`cannot read ${file}: ${(e as Error).message}`], EXIT.usage);
  }
  const { client, conn } = ctx.coordinator(cmd);
  let res: PolicyResponse;
  try {
    res = await ctx.call(conn, client.applyPolicy(yaml));
  } catch (err) {
    if (isCoordinatorCallError(err) && err.code === status.INVALID_ARGUMENT) {
      const problems = err.details.split('\n').map((l) => l.trim()).filter(Boolean);
      throw new CliFailure([
        `the coordinator refused ${file}; the policy in force is unchanged. Problems:`,
        ...problems.map((p) => `  ${p}`),
        `hint: \`vonode policy check ${file}\` shows the same problems offline`,
      ]);
    }
    throw err;
  }
  ctx.print([`applied ${file}`, ...renderPolicyStatus(res.status, { nowMs: ctx.io.now(), color: useColor(ctx.io) })]);
}

/** Registers `vonode policy show|check|apply`. */
export function registerPolicyCommand(program: Command, ctx: CliContext): void {
  const policy = program.command('policy').description('show, check or apply the VO policy (YAML)');
  policy
    .command('show')
    .description('print the policy in force (YAML) and its status; warns loudly if the file on disk was rejected')
    .option('--json', 'print the PolicyResponse as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => showPolicy(ctx, cmd, opts.json === true));
  policy
    .command('check')
    .description('validate a policy file offline (no coordinator needed); exit 1 listing every problem by field')
    .argument('<file>', 'policy YAML file')
    .option('--capacity <n>', `pool size, 0 to ${MAX_POOL_CAPACITY}, to warn when the VO mins exceed it`, wholeNumber('--capacity', 0, MAX_POOL_CAPACITY))
    .action(async (file: string, opts: { capacity?: number }) => checkPolicy(ctx, file, opts.capacity));
  policy
    .command('apply')
    .description('send a policy file to the coordinator, which validates and applies it')
    .argument('<file>', 'policy YAML file')
    .action(async (file: string, _opts: unknown, cmd: Command) => applyPolicy(ctx, cmd, file));
}
