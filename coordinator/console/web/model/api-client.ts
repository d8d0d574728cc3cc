import type {
  LayerSummaryJson,
  ListHostsJson,
  ListNodesJson,
  OperationDetailJson,
  StatusJson,
  TimingsJson,
  WhoAmIJson,
} from './api-types.js';

/** The part of a fetch Response the client reads. */
export interface HttpResponseLike {
  status: number;
  ok: boolean;
  json(): Promise<unknown>;
}

/** The part of RequestInit the client sets. */
export interface HttpRequestInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  credentials?: 'same-origin';
}

/** `fetch`, narrowed (the browser passes the global one). */
export type FetchLike = (url: string, init?: HttpRequestInit) => Promise<HttpResponseLike>;

/** The console answered 401: no valid certificate, token or session cookie. */
export class UnauthorizedError extends Error {
  override readonly name = 'UnauthorizedError';
}

/** Any other failed API request: `status` is the HTTP status (0 when the request did not get an answer). */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    message: string,
    readonly status: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Result of a login attempt: ok, or the console's reason. */
export type LoginResult = { ok: true } | { ok: false; error: string };

/** Type guard: a thrown UnauthorizedError. */
export function isUnauthorized(e: unknown): e is UnauthorizedError {
  return e instanceof UnauthorizedError;
}

/**
 * The console's HTTP API (docs/console.md). Every request is same-origin with
 * credentials (client certificate or session cookie). Methods throw
 * UnauthorizedError on 401 and ApiError on any other failure.
 */
export class ApiClient {
  constructor(
    private readonly fetchFn: FetchLike,
    private readonly base = '',
  ) {}

  /** `/api/whoami`. */
  whoami(): Promise<WhoAmIJson> {
    return this.get<WhoAmIJson>('/api/whoami');
  }

  /** `/api/status`. */
  status(): Promise<StatusJson> {
    return this.get<StatusJson>('/api/status');
  }

  /** `/api/hosts`. */
  hosts(): Promise<ListHostsJson> {
    return this.get<ListHostsJson>('/api/hosts');
  }

  /** `/api/nodes`. */
  nodes(): Promise<ListNodesJson> {
    return this.get<ListNodesJson>('/api/nodes');
  }

  /** `/api/operations?limit=N`: the N most recent operations. */
  operations(limit = 200): Promise<TimingsJson> {
    return this.get<TimingsJson>(`/api/operations?limit=${Math.max(1, Math.floor(limit))}`);
  }

  /** `/api/operations/{id}`; undefined for an unknown id (404). */
  async operation(id: string): Promise<OperationDetailJson | undefined> {
    try {
      return await this.get<OperationDetailJson>(`/api/operations/${encodeURIComponent(id)}`);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return undefined;
      throw e;
    }
  }

  /** `/api/layers?since=&until=` (unix ms). */
  layers(sinceMs: number, untilMs: number): Promise<LayerSummaryJson> {
    return this.get<LayerSummaryJson>(`/api/layers?since=${Math.floor(sinceMs)}&until=${Math.floor(untilMs)}`);
  }

  /** `POST /api/login` with a token: ok on 204; on 401 the console's message. Throws ApiError otherwise. */
  async login(token: string): Promise<LoginResult> {
    const res = await this.send('/api/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
    if (res.status === 204 || res.ok) return { ok: true };
    const error = await errorMessage(res);
    if (res.status === 401) return { ok: false, error };
    throw new ApiError(`login: ${error}`, res.status);
  }

  /** `POST /api/logout`: clears the session cookie. */
  async logout(): Promise<void> {
    const res = await this.send('/api/logout', { method: 'POST' });
    if (!res.ok) throw new ApiError(`logout: ${await errorMessage(res)}`, res.status);
  }

  private async get<T>(path: string): Promise<T> {
    const res = await this.send(path, { headers: { accept: 'application/json' } });
    if (res.status === 401) throw new UnauthorizedError(await errorMessage(res));
    if (!res.ok) throw new ApiError(`${path}: ${await errorMessage(res)}`, res.status);
    return (await res.json()) as T;
  }

  private async send(path: string, init: HttpRequestInit): Promise<HttpResponseLike> {
    try {
      return await this.fetchFn(this.base + path, { ...init, credentials: 'same-origin' });
    } catch (e) {
      throw new ApiError(`${path}: ${e instanceof Error ? e.message : String(e)}`, 0, { cause: e });
    }
  }
}

/** The `error` of a JSON error body, else `HTTP <status>`. */
async function errorMessage(res: HttpResponseLike): Promise<string> {
  try {
    const body = (await res.json()) as { error?: unknown } | null;
    if (body && typeof body.error === 'string' && body.error) return body.error;
  } catch {
    // Not JSON: fall through to the status.
  }
  return `HTTP ${res.status}`;
}
