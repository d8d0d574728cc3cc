import { Metadata, ServerInterceptingCall, status, type ServerInterceptor, type ServiceDefinition } from '@grpc/grpc-js';

const MALFORMED = Symbol('malformed request');

interface Malformed {
  [MALFORMED]: string;
}

function isMalformed(message: unknown): message is Malformed {
  return typeof message === 'object' && message !== null && MALFORMED in message;
}

/**
 * The service definition with request decoding that never throws: bytes that
 * are no valid message become a marker the interceptor below answers with
 * INVALID_ARGUMENT. (grpc-js answers a decoding error with INTERNAL, which
 * tells the caller the server is broken when it is the request that is.)
 */
export function tolerantDecoding(definition: ServiceDefinition): ServiceDefinition {
  return Object.fromEntries(
    Object.entries(definition).map(([name, method]) => [
      name,
      {
        ...method,
        requestDeserialize: (bytes: Buffer): unknown => {
          try {
            return method.requestDeserialize(bytes);
          } catch (e) {
            return { [MALFORMED]: (e as Error).message } satisfies Malformed;
          }
        },
      },
    ]),
  );
}

/** Answers a request tolerantDecoding could not decode with INVALID_ARGUMENT; it never reaches a handler. Must be the first interceptor. */
export const malformedRequestInterceptor: ServerInterceptor = (descriptor, call) => {
  let refused = false;
  return new ServerInterceptingCall(call, {
    start: (next) =>
      next({
        onReceiveMessage: (message, pass) => {
          if (!isMalformed(message)) return pass(message);
          refused = true;
          const method = descriptor.path.slice(descriptor.path.lastIndexOf('/') + 1);
          call.sendStatus({ code: status.INVALID_ARGUMENT, details: `${method}: the request is not a valid protobuf message (${message[MALFORMED]}); check that client and server speak the same vonode.v1 protocol`, metadata: new Metadata() });
        },
        onReceiveHalfClose: (pass) => {
          if (!refused) pass();
        },
      }),
  });
};
