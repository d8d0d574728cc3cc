import { status } from '@grpc/grpc-js';
import { CommandFailedError, type CommandResult } from '../../../shared/process/command-runner.js';

/** An `xl` command exited non-zero; carries argv, exit code and stderr. Base of every xl error. */
export class XlCommandError extends CommandFailedError {
  constructor(argv: readonly string[], result: CommandResult) {
    super(argv, result, `xl ${argv[1] ?? ''}`.trim());
  }
}

/** xl does not know the domain (NOT_FOUND). Drivers treat it as "already gone" where that is the goal. */
export class XlDomainNotFoundError extends XlCommandError {
  override readonly code: status = status.NOT_FOUND;

  constructor(
    argv: readonly string[],
    result: CommandResult,
    /** Domain name as xl echoed it, when it did. */
    readonly domain: string | undefined,
  ) {
    super(argv, result);
  }
}

/** `xl create` found a domain of that name already running (ALREADY_EXISTS). */
export class XlDomainExistsError extends XlCommandError {
  override readonly code: status = status.ALREADY_EXISTS;
}

/** xl rejected or warned about the config file (syntax, unknown value, unreadable file). */
export class XlConfigError extends XlCommandError {}

// `find_domain` in xl prints "<name> is an invalid domain identifier (rc=N)".
// rc=-6 (ERROR_INVAL) is what libxl_name_to_domid returns when no domain has
// that name; any other rc (e.g. -5 when the domain list itself could not be
// read) means xl could not look, and must not be mistaken for "gone".
const INVALID_IDENTIFIER = /^(.*) is an invalid domain identifier(?: \(rc=(-?\d+)\))?/m;
const ERROR_INVAL = '-6';
// `xl list NAME` when the lookup succeeded but the domain vanished meanwhile.
const DOES_NOT_EXIST = /Domain '(.*)' does not exist/;
// libxl__domain_rename during `xl create` (older libxl spells it lowercase).
const ALREADY_EXISTS = /domain with name "([^"]*)" already exists/i;
// Diagnostics xl's config parser prints; several come with exit 0 (the
// driver still sees them when another step fails, e.g. a libxl create error).
const CONFIG_PROBLEMS = [
  /config parsing error/,
  /Failed to parse config/,
  /Failed to read config file/,
  /warning: parameter `/,
  /unrecognized argument `/,
  /Invalid parameter `/,
  /Invalid domain type /,
  /Unknown on_\w+ action/,
  /Neither kernel nor bootloader specified/,
];

/**
 * The specific error for a failed xl command: domain not found, domain
 * exists, config rejected, or the generic XlCommandError. Never throws; the
 * caller throws what it returns (or ignores a not-found where that is fine).
 */
export function classifyXlFailure(argv: readonly string[], result: CommandResult): XlCommandError {
  const text = result.stderr;
  const notFound = notFoundDomain(text);
  if (notFound !== null) return new XlDomainNotFoundError(argv, result, notFound || undefined);
  if (ALREADY_EXISTS.test(text)) return new XlDomainExistsError(argv, result);
  if (CONFIG_PROBLEMS.some((re) => re.test(text))) return new XlConfigError(argv, result);
  return new XlCommandError(argv, result);
}

/** The domain xl reported missing ('' if it named none), or null if stderr does not say the domain is missing. */
function notFoundDomain(stderr: string): string | null {
  const missing = DOES_NOT_EXIST.exec(stderr);
  if (missing) return missing[1] ?? '';
  const invalid = INVALID_IDENTIFIER.exec(stderr);
  if (!invalid) return null;
  const rc = invalid[2];
  return rc === undefined || rc === ERROR_INVAL ? (invalid[1] ?? '') : null;
}
