// Validates xl.cfg text with the REAL xl 4.17 parser on a host without Xen:
// `xl -N create FILE` (dry run) under the fakexen LD_PRELOAD shim prints the
// libxl domain config as JSON. See test/fixtures/xen/fakexen.c for why.
import { createHash } from 'node:crypto';
import { access, constants, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProcessRunner } from '../../shared/process/command-runner.js';

/** The versioned xl binary; /usr/sbin/xl is a wrapper that refuses to run without Xen. */
export const XL_BINARY = '/usr/lib/xen-4.17/bin/xl';

/** Result of one dry run of the xl parser. */
export interface XlValidation {
  /** xl exited 0 and printed nothing but the expected noise. */
  ok: boolean;
  /** libxl's domain config as xl printed it (absent if it printed none). */
  json?: unknown;
  /** Every stderr line that is not expected noise; xl only WARNS (exit 0) on several bad values. */
  diagnostics: string[];
}

const SHIM_SOURCE = fileURLToPath(new URL('../fixtures/xen/fakexen.c', import.meta.url));
const INSTALL_HINT = 'install it with: apt-get install -y xen-utils-4.17 libxen-dev gcc';
// Lines every successful dry run prints; they say nothing about the config.
// Exactly these: e.g. "fakexen: unemulated sysctl cmd N" means the shim is
// insufficient and must surface as a diagnostic.
const NOISE = [/^Parsing config from /, /^fakexen: unemulated hypercall op 13$/];

const runner = new ProcessRunner();
let shimBuild: Promise<string> | undefined;

/**
 * Builds fakexen.so once per process (cached across runs in the temp dir,
 * keyed by the source's hash) and returns its path. Throws with a clear
 * message if xl or gcc is missing or the build fails: tests must fail, not skip.
 */
export function buildFakexenShim(): Promise<string> {
  shimBuild ??= compileShim();
  return shimBuild;
}

async function compileShim(): Promise<string> {
  await assertXlPresent();
  const source = await readFile(SHIM_SOURCE);
  const digest = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const dir = path.join(os.tmpdir(), `vonode-fakexen-${digest}`);
  const shim = path.join(dir, 'fakexen.so');
  if (await exists(shim)) return shim;
  await mkdir(dir, { recursive: true });
  // Built under a private name and renamed, so a concurrent run never loads a half-written file.
  const partial = `${shim}.${process.pid}.tmp`;
  const argv = ['gcc', '-shared', '-fPIC', '-O2', '-o', partial, SHIM_SOURCE, '-ldl'];
  const result = await runner.run(argv, { timeoutMs: 60_000 }).catch((err: unknown) => {
    throw new Error(`cannot run gcc to build the fakexen shim (${String(err)}); ${INSTALL_HINT}`);
  });
  if (result.code !== 0) throw new Error(`building the fakexen shim failed (exit ${result.code}): ${result.stderr.trim()}; ${INSTALL_HINT}`);
  await rename(partial, shim);
  return shim;
}

async function assertXlPresent(): Promise<void> {
  try {
    await access(XL_BINARY, constants.X_OK);
  } catch {
    throw new Error(`the real xl parser ${XL_BINARY} is missing, so xl configs cannot be validated; ${INSTALL_HINT}`);
  }
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

/**
 * Runs the real xl parser on cfgText. Strict: ok only when xl exits 0, prints
 * libxl JSON and writes no diagnostic. Throws only if xl cannot run at all.
 */
export async function validateXlConfig(cfgText: string): Promise<XlValidation> {
  const shim = await buildFakexenShim();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vonode-xlcfg-'));
  try {
    const file = path.join(dir, 'domain.cfg');
    await writeFile(file, cfgText);
    const result = await runner.run([XL_BINARY, '-N', 'create', file], {
      env: { ...process.env, XENSTORED_PATH: '/dev/null', LD_PRELOAD: shim },
      timeoutMs: 30_000,
    });
    const diagnostics = result.stderr.split('\n').filter((l) => l.trim() && !NOISE.some((re) => re.test(l)));
    if (result.code !== 0 && diagnostics.length === 0) diagnostics.push(`xl exited ${result.code} without a message`);
    const json = parseJson(result.stdout, diagnostics);
    if (result.code === 0 && json === undefined && diagnostics.length === 0) diagnostics.push('xl printed no libxl JSON');
    return { ok: result.code === 0 && diagnostics.length === 0, diagnostics, ...(json === undefined ? {} : { json }) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function parseJson(stdout: string, diagnostics: string[]): unknown {
  if (!stdout.trim()) return undefined;
  try {
    return JSON.parse(stdout) as unknown;
  } catch {
    diagnostics.push(`xl printed something that is not JSON: ${stdout.slice(0, 200)}`);
    return undefined;
  }
}
