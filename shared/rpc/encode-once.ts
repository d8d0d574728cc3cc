import type { ServiceDefinition } from '@grpc/grpc-js';

/**
 * The service definition with its server-streamed responses encoded once per
 * message object: an event fanned out to many subscribers (every
 * `vonode events`, every deploy stream, the web console) is the same object,
 * so all but the first write reuse the bytes instead of re-encoding them.
 */
export function encodeStreamedResponsesOnce(definition: ServiceDefinition): ServiceDefinition {
  return Object.fromEntries(
    Object.entries(definition).map(([name, method]) => {
      if (!method.responseStream) return [name, method];
      const encoded = new WeakMap<object, Buffer>();
      return [name, {
        ...method,
        responseSerialize: (value: unknown): Buffer => {
          if (typeof value !== 'object' || value === null) return method.responseSerialize(value);
          let bytes = encoded.get(value);
          if (!bytes) {
            bytes = method.responseSerialize(value);
            encoded.set(value, bytes);
          }
          return bytes;
        },
      }];
    }),
  );
}
