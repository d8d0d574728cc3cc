import { constants } from 'node:fs';
import { lstat, open, readlink, realpath, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PermissionDeniedError, UnavailableError } from '../../shared/errors.js';

const SCHEMES = new Set(['http:', 'https:', 'file:']);
// The WHATWG parser resolves "..", "%2e%2e" and "\" but leaves an encoded
// '/', '\' or NUL as it is: such a path would pass a prefix comparison and
// then be decoded (by the repository server, or by fileURLToPath) into a
// separator or a terminator. No image URL needs one.
const ENCODED_SEPARATOR = /%(2f|5c|00)/i;

/**
 * Why `text` cannot be an `images.sources` prefix, or undefined if it can: an
 * http, https or file URL in its normal form, ending with '/', without
 * credentials, query or fragment; a file URL names a local directory (no host)
 * other than the root.
 */
export function sourcePrefixProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'is not a URL (e.g. http://10.130.0.1:8080/appliances/ or file:///srv/vonode/appliances/)';
  }
  if (!SCHEMES.has(url.protocol)) return `has scheme ${url.protocol}; only http, https and file are allowed`;
  if (url.username || url.password) return 'must not carry credentials';
  if (text.includes('?') || text.includes('#')) return 'must not have a query or a fragment';
  if (url.protocol === 'file:' && url.host !== '') return 'is a file URL with a host; a file prefix names a local directory: file:///srv/...';
  if (ENCODED_SEPARATOR.test(url.pathname)) return "must not contain an encoded '/', '\\' or NUL";
  if (!url.pathname.endsWith('/')) return "must end with '/' (a prefix names a directory of the repository)";
  if (url.protocol === 'file:' && url.pathname === '/') return 'would allow every file of this host; name the directory of the images';
  // Compared as written below: a prefix in any other form would silently mean something else.
  if (url.href !== text) return `is not in normal form; write it as ${url.href}`;
  return undefined;
}

/** Why a request URL can never be fetched whatever the prefixes, or undefined. */
function requestProblem(url: URL): string | undefined {
  if (!SCHEMES.has(url.protocol)) return `has scheme ${url.protocol}, which the agent never fetches`;
  if (url.username || url.password) return 'carries credentials, which the agent never sends';
  // href keeps an empty "?" or "#" that search and hash drop.
  if (url.href.includes('?') || url.href.includes('#')) return 'has a query or a fragment, which images.sources never allows';
  if (ENCODED_SEPARATOR.test(url.pathname)) return "has an encoded '/', '\\' or NUL in its path";
  return undefined;
}

/** True when `url` (normalized) lies under `prefix`: same scheme, host and port, and the path continues the prefix's directory. */
function under(prefix: URL, url: URL): boolean {
  return prefix.protocol === url.protocol && prefix.host === url.host && url.pathname.startsWith(prefix.pathname);
}

// O_NONBLOCK: opening a FIFO must not hang the agent; it changes nothing for a regular file.
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

// As Linux's own limit on links followed in one path lookup.
const MAX_LINKS = 40;

/**
 * Where `file` leads through symbolic links, like realpath, but also when it
 * (or a link's target) does not exist: from the first missing component on,
 * the rest is taken as written (nothing missing can be a link). So the
 * decision inside/outside never depends on whether the target exists, and a
 * refusal cannot be used to probe for files outside the allowed directories.
 */
async function resolveThroughLinks(file: string): Promise<string> {
  const pending = file.split('/').filter(Boolean);
  let resolved = '/';
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '.') continue;
    if (part === '..') {
      resolved = path.dirname(resolved);
      continue;
    }
    const next = path.join(resolved, part);
    const target = await lstat(next).then(
      (s) => (s.isSymbolicLink() ? readlink(next) : null),
      () => undefined,
    );
    if (target === undefined) return path.join(next, ...pending);
    if (target === null) {
      resolved = next;
      continue;
    }
    if (++links > MAX_LINKS) throw new UnavailableError(`${file}: more than ${MAX_LINKS} symbolic links`);
    pending.unshift(...target.split('/').filter(Boolean));
    if (target.startsWith('/')) resolved = '/';
  }
  return resolved;
}

/** True when the real path `file` is `dir` itself or below it. */
function inside(file: string, dir: string): boolean {
  return file === dir || file.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
}

/**
 * The agent's `images.sources`: the URL prefixes it may fetch images from.
 * `check` decides on the URL alone (WHATWG-normalized, so "..", "%2e%2e" and
 * "\" cannot climb out of a prefix), before any byte is read or any file is
 * looked at; `resolveLocalFile` and `confirmOpened` then keep a file:// URL
 * inside an allowed directory through symbolic links. Every refusal is a
 * PermissionDeniedError that names the URL and the setting, and says nothing
 * about the refused resource (not even whether it exists).
 */
export class ImageSourcePolicy {
  private readonly prefixes: readonly URL[];

  /** Throws Error on a prefix sourcePrefixProblem refuses (the config schema refuses it first). */
  constructor(readonly sources: readonly string[]) {
    this.prefixes = sources.map((s) => {
      const problem = sourcePrefixProblem(s);
      if (problem) throw new Error(`images.sources: ${s} ${problem}`);
      return new URL(s);
    });
  }

  /**
   * Returns the normalized URL when a prefix allows it. `redirectedFrom` names
   * the URL whose redirect led here. Throws PermissionDeniedError. Touches no file.
   */
  check(url: string | URL, redirectedFrom?: URL): URL {
    const text = String(url);
    const subject = redirectedFrom ? `image URL ${redirectedFrom.href} redirects to ${text}, which` : `image URL ${text}`;
    let parsed: URL;
    try {
      parsed = new URL(text);
    } catch {
      throw new PermissionDeniedError(`${subject} is not a URL the agent can fetch: ${this.advice()}`);
    }
    const problem = requestProblem(parsed) ?? (this.prefixes.some((p) => under(p, parsed)) ? undefined : 'is not under any prefix of images.sources');
    if (problem) throw new PermissionDeniedError(`${subject} ${problem}: ${this.advice()}`);
    return parsed;
  }

  /**
   * The real path of an allowed file:// URL: symbolic links resolved, inside
   * an allowed directory. The file may not exist (opening it says so, and
   * only then: the answer for a path outside is the same either way). Throws
   * PermissionDeniedError when it leads outside.
   */
  async resolveLocalFile(url: URL): Promise<string> {
    this.check(url);
    const real = await resolveThroughLinks(fileURLToPath(url));
    await this.requireInside(real, url);
    return real;
  }

  /**
   * Confirms that an open file descriptor is a file inside an allowed directory:
   * closes the window between resolveLocalFile and open, in which a path
   * component could have been swapped for a symbolic link. Linux (/proc).
   * Throws PermissionDeniedError.
   */
  async confirmOpened(url: URL, fd: number): Promise<void> {
    const opened = await readlink(`/proc/self/fd/${fd}`).catch(() => undefined);
    // Without /proc the check cannot be made: refuse rather than trust the path.
    if (opened === undefined) throw new PermissionDeniedError(`image URL ${url.href}: cannot confirm which file was opened (/proc/self/fd is not readable)`);
    await this.requireInside(opened, url);
  }

  /**
   * Where a redirect from `from` to `location` leads, if a prefix allows it
   * (checked before it is requested: a repository cannot send the agent to a
   * host or file the config does not name; a redirect to a local file is never
   * followed). Throws PermissionDeniedError.
   */
  checkRedirect(location: string, from: URL): URL {
    try {
      const next = this.check(new URL(location, from), from);
      if (next.protocol === 'file:') throw new PermissionDeniedError(`image URL ${from.href} redirects to a local file, which the agent never follows`);
      return next;
    } catch (e) {
      throw e instanceof PermissionDeniedError ? e : new PermissionDeniedError(`image URL ${from.href} redirects to an invalid location`);
    }
  }

  /**
   * Opens an allowed file:// URL read-only, inside an allowed directory
   * (resolveLocalFile, then confirmOpened on the descriptor; never through a
   * final symbolic link, never blocking on a FIFO). Throws
   * PermissionDeniedError, or the open(2) error (ENOENT...) for the caller to word.
   */
  async openLocal(url: URL): Promise<FileHandle> {
    const handle = await open(await this.resolveLocalFile(url), OPEN_FLAGS);
    try {
      await this.confirmOpened(url, handle.fd);
      return handle;
    } catch (e) {
      await handle.close();
      throw e;
    }
  }

  private async requireInside(real: string, url: URL): Promise<void> {
    for (const prefix of this.prefixes) {
      if (prefix.protocol !== 'file:') continue;
      // The allowed directory itself may be a symbolic link (e.g. /srv → /data/srv).
      const dir = await realpath(fileURLToPath(prefix)).catch(() => undefined);
      if (dir !== undefined && inside(real, dir)) return;
    }
    throw new PermissionDeniedError(`image URL ${url.href} leads (through a symbolic link) outside the directories images.sources allows: ${this.advice()}`);
  }

  private advice(): string {
    const allowed = this.sources.length ? `it allows ${this.sources.join(', ')}` : 'it is empty, so this agent fetches no image';
    return `add the image repository's URL prefix to images.sources in the agent's config (${allowed})`;
  }
}
