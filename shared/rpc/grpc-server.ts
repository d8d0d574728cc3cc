import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Server, type ServerCredentials, type ServerInterceptor, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import { encodeStreamedResponsesOnce } from './encode-once.js';
import { malformedRequestInterceptor, tolerantDecoding } from './malformed-requests.js';
import { clearStaleUnixSocket } from './unix-socket.js';

/** Where the .proto files are: the built tree (dist/shared/rpc) sits one level deeper than the sources. */
function protoRoot(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const up = here.split(path.sep).includes('dist') ? '../../../proto' : '../../proto';
  return path.resolve(here, up);
}

/** A gRPC server with grpc.health.v1 and server reflection, serving vonode services. */
export class GrpcServer {
  readonly server: Server;
  readonly health: HealthImplementation;

  /** `interceptors` run around every call, health and reflection included (authorization: shared/auth). */
  constructor(
    protoFiles: string[],
    services: Array<{ name: string; definition: ServiceDefinition; impl: UntypedServiceImplementation }>,
    options: { interceptors?: ServerInterceptor[] } = {},
  ) {
    // The first interceptor sees requests first: undecodable bytes are refused before anything else looks at them.
    this.server = new Server({ 'grpc.max_receive_message_length': 16 * 1024 * 1024, interceptors: [malformedRequestInterceptor, ...(options.interceptors ?? [])] });
    for (const s of services) this.server.addService(encodeStreamedResponsesOnce(tolerantDecoding(s.definition)), s.impl);
    this.health = new HealthImplementation({ '': 'SERVING', ...Object.fromEntries(services.map((s) => [s.name, 'SERVING'])) });
    this.health.addToServer(this.server);
    // Reflection reads the same .proto files the code was generated from.
    const definition = loadSync(protoFiles, { includeDirs: [protoRoot()], keepCase: false, longs: Number, enums: String, defaults: true });
    new ReflectionService(definition).addToServer(this.server);
  }

  /** Binds and starts; resolves with the bound port (useful with port 0). A crashed predecessor's unix socket is cleared first. */
  async listen(address: string, creds: ServerCredentials): Promise<number> {
    await clearStaleUnixSocket(address);
    return new Promise((resolve, reject) => {
      this.server.bindAsync(address, creds, (err, port) => (err ? reject(err) : resolve(port)));
    });
  }

  /** Marks every service NOT_SERVING and drains calls, forcing after `graceMs`. */
  async shutdown(graceMs = 5000): Promise<void> {
    this.health.setStatus('', 'NOT_SERVING');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => (this.server.forceShutdown(), resolve()), graceMs);
      this.server.tryShutdown(() => (clearTimeout(timer), resolve()));
    });
  }
}
