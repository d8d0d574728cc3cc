import path from 'node:path';
import {
  checkOwnIdentity,
  checkProgram,
  checkReadableFile,
  checkTlsFiles,
  checkWritableDir,
  checkWritableFile,
  type PreflightProblem,
} from '../shared/daemon/preflight.js';
import type { CoordinatorConfig } from './config.js';
import { formatProblem, readPolicyFile } from './policy/policy-check.js';

/** What the checks may look at besides the config (parameters for tests). */
export interface CoordinatorPreflightOptions {
  /** --insecure: no TLS needed. */
  insecure: boolean;
  /** PATH the batch-system programs are looked up on (default: this process's). */
  searchPath?: string;
  /** Wall clock for certificate validity (default: now). */
  nowMs?: number;
}

/** The programs each batch-system adapter runs (coordinator/lrms/sge, coordinator/lrms/slurm). */
const BATCH_PROGRAMS = { sge: ['qconf', 'qstat', 'qmod'], slurm: ['scontrol', 'squeue', 'sinfo'] } as const;

/**
 * `vonode-coordinator --check`: everything Coordinator.start() needs beyond a
 * valid config file, checked read-only: the policy file (read and checked by
 * the PolicyWatcher's own code path), the TLS files and the certificate's
 * role and CRL (unless --insecure and none are configured), the state
 * database's directory (without creating the database), a unix-socket
 * listen directory, the batch system's programs and files, and the event hooks' executables.
 * Returns every problem, each saying what to do.
 */
export async function coordinatorPreflight(config: CoordinatorConfig, options: CoordinatorPreflightOptions): Promise<PreflightProblem[]> {
  const problems: PreflightProblem[] = [];
  const add = (p: PreflightProblem | undefined): void => void (p && problems.push(p));

  const { result } = await readPolicyFile(config.policyFile, { capacity: config.pool.length });
  if (!result.ok) {
    for (const p of result.problems) {
      add({ field: 'policyFile', message: `${config.policyFile}: ${formatProblem(p)}` });
    }
  }

  if (config.tls) {
    const files = await checkTlsFiles(config.tls, options.nowMs);
    // Only readable, well-formed files can be checked for their role and against the CRL.
    problems.push(...(files.length ? files : await checkOwnIdentity(config.tls, { role: 'coordinator' })));
  }
  else if (!options.insecure) {
    add({ field: 'tls', message: 'is not configured: add tls.ca, tls.cert and tls.key (scripts/pki/make-site-pki.sh makes them), or pass --insecure for local development' });
  }

  // SQLite writes its -wal and -shm files next to the database: the directory must be writable either way.
  add((await checkWritableDir('stateDb', path.dirname(config.stateDb))) ?? (await checkWritableFile('stateDb', config.stateDb)));
  if (config.listen.startsWith('unix:')) add(await checkWritableDir('listen', path.dirname(config.listen.slice('unix:'.length))));

  const batch = config.batchSystem;
  const section = batch ? batch[batch.kind] : undefined;
  if (batch && section) {
    const at = `batchSystem.${batch.kind}`;
    const searchPath = options.searchPath ?? process.env['PATH'] ?? '';
    const prefix = section.commandPrefix?.[0];
    if (prefix) add(await checkProgram(`${at}.commandPrefix`, prefix, { searchPath, hint: 'install it or fix commandPrefix' }));
    for (const program of BATCH_PROGRAMS[batch.kind]) {
      add(await checkProgram(section.binDir ? `${at}.binDir` : at, program, {
        dir: section.binDir, searchPath,
        hint: section.binDir ? `set ${at}.binDir to the directory of the ${batch.kind} client programs` : `install the ${batch.kind} client programs or set ${at}.binDir`,
      }));
    }
    if (batch.kind === 'sge' && batch.sge?.root) add(await checkReadableFile(`${at}.root`, batch.sge.root));
    if (batch.kind === 'slurm' && batch.slurm?.conf) add(await checkReadableFile(`${at}.conf`, batch.slurm.conf));
  }

  // The APEL writer creates its period directories in the SSM sender's outgoing directory.
  if (config.accounting?.apel) add(await checkWritableDir('accounting.apel.dir', config.accounting.apel.dir));

  // Hooks are run by absolute path: each must be an executable file (a missing one is only logged at run time).
  for (const [event, paths] of Object.entries(config.hooks?.events ?? {})) {
    for (const [i, file] of paths.entries()) {
      add(await checkProgram(`hooks.events.${event}[${i}]`, file, { hint: 'install the hook there, make it executable (chmod +x) or remove it from the list' }));
    }
  }
  return problems;
}
