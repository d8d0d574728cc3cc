/**
 * The agents' peer protocol (HTTPS, mutual TLS with agent certificates):
 * - GET /v1/images/<sha256>                with `Range: bytes=A-B`: those bytes (206) once every piece they touch is
 *   verified here; the server holds the request up to `x-vonode-wait-ms` (at most MAX_WAIT_MS) for pieces its own
 *   download has not verified yet. 404: this host neither holds nor fetches the image. 503: upload slots full, or the
 *   pieces did not come in time (try another source). 416: a bad range.
 * - GET /v1/images/<sha256>/manifest       the piece manifest (JSON), for a complete image or one being fetched piece-wise.
 * Every answer other than 2xx carries `x-vonode-reason`. A request may carry `x-vonode-rate` (bytes/s): the
 * server then sends that peer's ranges no faster.
 */
export const WAIT_HEADER = 'x-vonode-wait-ms';
/** The requester's admitted rate, bytes/s: the server paces what it sends that peer to it (TCP windows would otherwise burst). */
export const RATE_HEADER = 'x-vonode-rate';
export const REASON_HEADER = 'x-vonode-reason';
export const MANIFEST_PATH_SUFFIX = '/manifest';
export const MAX_WAIT_MS = 15_000;
/** The largest range one request may ask for (bounds the memory one request can tie up). */
export const MAX_RANGE_BYTES = 64 * 1024 * 1024;

/** Path of an image on a peer. */
export function imagePath(sha256: string): string {
  return `/v1/images/${sha256}`;
}

/** Parses a request path: the sha256 and whether the manifest is asked for, or undefined. */
export function parseImagePath(path: string): { sha256: string; manifest: boolean } | undefined {
  const m = /^\/v1\/images\/([0-9a-f]{64})(\/manifest)?$/.exec(path);
  return m ? { sha256: m[1]!, manifest: m[2] !== undefined } : undefined;
}

/** Parses a single `bytes=A-B` range into [start, end) within `size`, or undefined. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | undefined {
  const m = header ? /^bytes=(\d{1,15})-(\d{1,15})$/.exec(header) : null;
  if (!m) return undefined;
  const start = Number(m[1]);
  const last = Number(m[2]);
  if (last < start || last >= size || last - start + 1 > MAX_RANGE_BYTES) return undefined;
  return { start, end: last + 1 };
}
