import path from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'chai';
import { SCHEMA_SQL, SCHEMA_VERSION } from '../../../../../coordinator/store/sqlite/schema.js';
import { openSqliteStore } from '../../../../../coordinator/store/sqlite/sqlite-backend.js';
import { tempDir } from '../../../../helpers/agent-fakes.js';

describe('coordinator/store/sqlite schema migration', () => {
  it('takes a version 1 database (no usage table) to the current version, keeping its rows', async () => {
    const file = path.join(await tempDir('vonode-schema-'), 'state.db');
    const v1 = new Database(file);
    v1.exec(SCHEMA_SQL);
    v1.prepare(`INSERT INTO meta(key, value) VALUES ('schema_version', '1')`).run();
    v1.prepare(`INSERT INTO nodes(hostname, ip, mac, vo, host, state, operation_id, since_ms, error) VALUES ('vwn-001', '10.0.0.1', '52:54:00:00:00:01', 'bio', 'phys-01', 'running', 'op-1', 5, '')`).run();
    v1.close();

    const store = openSqliteStore(file);
    expect(store.nodes().map((n) => n.hostname)).to.deep.equal(['vwn-001']);
    store.startUsage({ id: 'op-1.1', vo: 'bio', node: 'vwn-001', host: 'phys-01', imageUrl: 'u', imageSha256: 's', applianceId: '', vcpus: 1, memoryMb: 512, startMs: 5, startOperationId: 'op-1' });
    await store.close();

    const db = new Database(file, { readonly: true });
    try {
      expect(db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get()).to.deep.equal({ value: String(SCHEMA_VERSION) });
      expect(db.prepare('SELECT id, status FROM usage').all()).to.deep.equal([{ id: 'op-1.1', status: 'running' }]);
    } finally {
      db.close();
    }
  });

  it('refuses a database a newer release wrote', async () => {
    const file = path.join(await tempDir('vonode-schema-'), 'state.db');
    const db = new Database(file);
    db.exec(SCHEMA_SQL);
    db.prepare(`INSERT INTO meta(key, value) VALUES ('schema_version', ?)`).run(String(SCHEMA_VERSION + 1));
    db.close();
    expect(() => openSqliteStore(file)).to.throw(/schema version .*newer release/);
  });
});
