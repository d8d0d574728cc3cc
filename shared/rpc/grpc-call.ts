import type { ClientReadableStream, ServiceError } from '@grpc/grpc-js';
import { LEADER_METADATA_KEY } from '../errors.js';

/** A gRPC call that failed, with its status code and the server's message. */
export class RpcCallError extends Error {
  constructor(
    readonly method: string,
    readonly code: number,
    readonly details: string,
    options?: { cause?: unknown },
  ) {
    super(`${method}: ${details}`, options);
    this.name = new.target.name;
  }

  /** The leader's address a standby coordinator named when it refused the call ('' if none). */
  get leader(): string {
    const value = (this.cause as Partial<ServiceError> | undefined)?.metadata?.get(LEADER_METADATA_KEY)[0];
    return typeof value === 'string' ? value : '';
  }
}

/** Wraps whatever a grpc-js call rejected with into the given RpcCallError subclass. */
export function wrapRpcError<E extends RpcCallError>(
  ErrorClass: new (method: string, code: number, details: string, options?: { cause?: unknown }) => E,
  method: string,
  err: unknown,
): E {
  const e = err as Partial<ServiceError>;
  // 2 = UNKNOWN: the call failed without a status (e.g. a local exception).
  return new ErrorClass(method, e.code ?? 2, e.details ?? String(err), { cause: err });
}

/** Turns a callback-style unary call into a promise. */
export function unaryCall<T, E extends RpcCallError>(
  ErrorClass: new (method: string, code: number, details: string, options?: { cause?: unknown }) => E,
  method: string,
  call: (cb: (err: ServiceError | null, res?: T) => void) => unknown,
): Promise<T> {
  return new Promise((resolve, reject) => {
    call((err, res) => (err || res === undefined ? reject(wrapRpcError(ErrorClass, method, err)) : resolve(res)));
  });
}

/** Turns a server stream into an async iterable that cancels the call on abort and throws typed errors. */
export async function* streamCall<T, E extends RpcCallError>(
  ErrorClass: new (method: string, code: number, details: string, options?: { cause?: unknown }) => E,
  method: string,
  call: ClientReadableStream<T>,
  signal?: AbortSignal,
): AsyncIterable<T> {
  const onAbort = (): void => call.cancel();
  if (signal?.aborted) call.cancel();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const event of call as AsyncIterable<T>) yield event;
  } catch (err) {
    throw wrapRpcError(ErrorClass, method, err);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}
