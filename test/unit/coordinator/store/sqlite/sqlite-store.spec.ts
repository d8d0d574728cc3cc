import path from 'node:path';
import { openSqliteStore } from '../../../../../coordinator/store/sqlite/sqlite-backend.js';
import { tempDir } from '../../../../helpers/agent-fakes.js';
import { storeContract } from '../state-store-contract.js';

describe('coordinator/store/sqlite (StateStore contract on SQLite)', () => {
  storeContract(() => {
    let file: Promise<string> | undefined;
    const path_ = (): Promise<string> => (file ??= tempDir('vonode-store-').then((d) => path.join(d, 'state.db')));
    return {
      open: async () => openSqliteStore(await path_()),
      reopen: async () => openSqliteStore(await path_()),
    };
  });
});
