/**
 * The coordinator's SQLite schema. Every row is written before the action it
 * describes, so a restart can tell what was promised from what was done.
 * - nodes: one row per leased pool triple (hostname, ip and mac always
 *   together: the row IS the lease); deleted when the triple is free again.
 * - operations: deployments, drains and removals with their state and attempt.
 * - phases: every phase boundary the agents (and later the batch system,
 *   infosys and GridWay steps) reported, for `vonode timings`.
 */
export const SCHEMA_VERSION = 1;

/** DDL applied in one transaction on an empty database. */
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
