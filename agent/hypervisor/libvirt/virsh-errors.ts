import { status } from '@grpc/grpc-js';
import { VonodeError } from '../../../shared/errors.js';
import type { VirshResult } from './virsh-session.js';

/** A virsh command failed; carries the command and libvirt's message. */
export class LibvirtCommandError extends VonodeError {
  constructor(
    readonly command: readonly string[],
    readonly stderr: string,
    code: status = status.UNAVAILABLE,
  ) {
    super(`virsh ${command.join(' ')} failed: ${stderr.replace(/^error: /gm, '').split('\n').join(' | ')}`, code);
  }
}

/** libvirt does not know the domain. */
export class LibvirtDomainNotFoundError extends LibvirtCommandError {
  constructor(command: readonly string[], stderr: string) {
    super(command, stderr, status.NOT_FOUND);
  }
}

/** libvirt rejected the domain XML (schema validation or parse error). */
export class LibvirtXmlError extends LibvirtCommandError {
  constructor(command: readonly string[], stderr: string) {
    super(command, stderr, status.INVALID_ARGUMENT);
  }
}

/** The domain is not running (destroy/shutdown of a stopped domain). */
export class LibvirtNotRunningError extends LibvirtCommandError {}

/** Maps a failed virsh result to the specific error class. */
export function classifyVirshFailure(command: readonly string[], result: VirshResult): LibvirtCommandError {
  const text = result.stderr;
  if (/failed to get domain|Domain not found|no domain with matching name/i.test(text)) return new LibvirtDomainNotFoundError(command, text);
  if (/XML document failed to validate|XML error|failed to parse xml|unsupported configuration|Invalid value/i.test(text)) return new LibvirtXmlError(command, text);
  if (/domain is not running|not active/i.test(text)) return new LibvirtNotRunningError(command, text);
  return new LibvirtCommandError(command, text);
}
