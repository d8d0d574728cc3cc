import { readFileSync } from 'node:fs';
import { Etcd3, type Namespace } from 'etcd3';
import type { CoordinatorConfig } from '../config.js';

/** The `store.etcd` section of the coordinator config. */
export type EtcdStoreConfig = NonNullable<CoordinatorConfig['store']['etcd']>;

/** Deadline of every unary etcd call: a lost member or quorum fails a call in this time, and it is retried elsewhere. */
const CALL_DEADLINE_MS = 3000;

/** A client of the site's etcd cluster, and the namespace of this site's keys. */
export interface EtcdConnection {
  client: Etcd3;
  ns: Namespace;
  close(): void;
}

/** Connects to etcd (lazily: no call is made here). Throws if a TLS file cannot be read. */
export function connectEtcd(config: EtcdStoreConfig, hosts: readonly string[] = config.endpoints): EtcdConnection {
  const client = new Etcd3({
    hosts: [...hosts],
    dialTimeout: 2000,
    credentials: config.tls && {
      rootCertificate: readFileSync(config.tls.ca),
      certChain: readFileSync(config.tls.cert),
      privateKey: readFileSync(config.tls.key),
    },
    // Streams (watches, lease keepalives) live long; every other call is bounded.
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + CALL_DEADLINE_MS }),
  });
  return { client, ns: client.namespace(config.prefix), close: () => client.close() };
}
