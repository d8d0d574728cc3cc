import { Client, Metadata, status, type ChannelCredentials } from '@grpc/grpc-js';
import path from 'node:path';
import protobuf from 'protobufjs';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

/** What one fuzzed call ended with. */
export interface CallOutcome {
  code: number;
  details: string;
}

/** One RPC of a service, as the fuzzer calls it. */
export interface FuzzedMethod {
  name: string;
  path: string;
  requestType: protobuf.Type;
  serverStream: boolean;
}

/** The methods of `vonode.v1.<service>` read from the .proto sources (the single source of truth). */
export function serviceMethods(service: 'CoordinatorService' | 'AgentService'): FuzzedMethod[] {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => path.join(ROOT, 'proto', target);
  root.loadSync(['vonode/v1/coordinator.proto', 'vonode/v1/agent.proto']).resolveAll();
  const svc = root.lookupService(`vonode.v1.${service}`);
  return svc.methodsArray.map((m) => ({
    name: m.name,
    path: `/vonode.v1.${service}/${m.name}`,
    requestType: m.resolvedRequestType!,
    serverStream: Boolean(m.responseStream),
  }));
}

/**
 * A raw gRPC client: sends arbitrary bytes as a request (the server decodes
 * them itself), so both generated messages and undecodable garbage reach
 * the real server over the real transport.
 */
export class RawRpcClient {
  private readonly client: Client;

  constructor(address: string, creds: ChannelCredentials) {
    this.client = new Client(address, creds);
  }

  /** Calls once; a server stream is read until it ends or `streamMs` passes (then cancelled, which is fine). */
  call(method: FuzzedMethod, bytes: Buffer, streamMs = 1500): Promise<CallOutcome> {
    const identity = (b: Buffer): Buffer => b;
    if (!method.serverStream) {
      return new Promise((resolve) => {
        this.client.makeUnaryRequest(method.path, identity, identity, bytes, new Metadata(), { deadline: Date.now() + 10_000 }, (err) =>
          resolve(err ? { code: err.code ?? status.UNKNOWN, details: err.details ?? err.message } : { code: status.OK, details: '' }),
        );
      });
    }
    return new Promise((resolve) => {
      const stream = this.client.makeServerStreamRequest(method.path, identity, identity, bytes, new Metadata(), {});
      const timer = setTimeout(() => stream.cancel(), streamMs);
      stream.on('data', () => undefined);
      stream.on('status', (s: { code: number; details: string }) => {
        clearTimeout(timer);
        resolve({ code: s.code, details: s.details });
      });
      stream.on('error', () => undefined); // the status event carries the outcome
    });
  }

  close(): void {
    this.client.close();
  }
}

/** Counts per fuzzed target: inputs, and outcomes by status code. */
export class FuzzTally {
  private readonly rows = new Map<string, Map<string, number>>();

  record(target: string, outcome: CallOutcome | 'accepted' | 'refused'): void {
    const key = typeof outcome === 'string' ? outcome : (status[outcome.code] ?? String(outcome.code));
    const row = this.rows.get(target) ?? new Map<string, number>();
    row.set(key, (row.get(key) ?? 0) + 1);
    this.rows.set(target, row);
  }

  /** Inputs a target got. */
  inputs(target: string): number {
    return [...(this.rows.get(target)?.values() ?? [])].reduce((a, b) => a + b, 0);
  }

  /** One line per target: "Target  N inputs  (CODE n, ...)". */
  table(title: string): string {
    const lines = [...this.rows.entries()].map(([target, row]) => {
      const parts = [...row.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ');
      return `    ${target.padEnd(28)} ${String(this.inputs(target)).padStart(5)} inputs  (${parts})`;
    });
    const total = [...this.rows.keys()].reduce((sum, t) => sum + this.inputs(t), 0);
    return [`  fuzz: ${title}: ${total} inputs over ${this.rows.size} targets`, ...lines].join('\n');
  }
}
