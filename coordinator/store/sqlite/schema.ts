/**
 * The coordinator's SQLite schema. Every row is written before the action it
 * describes, so a restart can tell what was promised from what was done.
 * - nodes: one row per leased pool triple (hostname, ip and mac always
 *   together: the row IS the lease); deleted when the triple is free again.
 * - operations: deployments, drains and removals with their state and attempt.
 * - phases: every phase boundary the agents (and later the batch system,
 *   infosys and GridWay steps) reported, for `vonode timings`.
 * - usage (version 2): one row per VM life, for `vonode accounting` and the
 *   APEL writer; end_ms 0 while the VM runs.
 * - meta: schema_version, and values such as the last APEL period sent.
 */
export const SCHEMA_VERSION = 2;

/** DDL of version 1, applied on every open (IF NOT EXISTS); MIGRATIONS take it to SCHEMA_VERSION. */
export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS nodes (
  hostname TEXT PRIMARY KEY,
  ip TEXT NOT NULL UNIQUE,
  mac TEXT NOT NULL UNIQUE,
  vo TEXT NOT NULL,
  host TEXT NOT NULL DEFAULT '',
  state TEXT NOT NULL,
  operation_id TEXT NOT NULL DEFAULT '',
  since_ms REAL NOT NULL,
  error TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS operations (
  id TEXT PRIMARY KEY,
  seq INTEGER NOT NULL,
  kind TEXT NOT NULL,
  state TEXT NOT NULL,
  vo TEXT NOT NULL,
  node TEXT NOT NULL,
  host TEXT NOT NULL DEFAULT '',
  pinned_host TEXT NOT NULL DEFAULT '',
  attempt INTEGER NOT NULL DEFAULT 0,
  excluded_hosts TEXT NOT NULL DEFAULT '[]',
  error TEXT NOT NULL DEFAULT '',
  trigger TEXT NOT NULL,
  created_ms REAL NOT NULL,
  finished_ms REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS operations_state ON operations(state, seq);
CREATE TABLE IF NOT EXISTS phases (
  operation_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  host TEXT NOT NULL,
  phase TEXT NOT NULL,
  edge TEXT NOT NULL,
  monotonic_ms REAL NOT NULL,
  unix_ms REAL NOT NULL,
  duration_ms REAL NOT NULL DEFAULT 0,
  details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS phases_operation ON phases(operation_id);
`;

/** DDL that takes a database from version N-1 to N (key N), applied in order in one transaction each. */
export const MIGRATIONS: Readonly<Record<number, string>> = {
  2: `
CREATE TABLE IF NOT EXISTS usage (
  id TEXT PRIMARY KEY,
  vo TEXT NOT NULL,
  node TEXT NOT NULL,
  host TEXT NOT NULL DEFAULT '',
  image_url TEXT NOT NULL DEFAULT '',
  image_sha256 TEXT NOT NULL DEFAULT '',
  appliance_id TEXT NOT NULL DEFAULT '',
  vcpus INTEGER NOT NULL,
  memory_mb INTEGER NOT NULL,
  start_ms REAL NOT NULL,
  end_ms REAL NOT NULL DEFAULT 0,
  status TEXT NOT NULL,
  start_operation_id TEXT NOT NULL DEFAULT '',
  end_operation_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS usage_open ON usage(status) WHERE end_ms = 0;
CREATE INDEX IF NOT EXISTS usage_end ON usage(end_ms);
`,
};
