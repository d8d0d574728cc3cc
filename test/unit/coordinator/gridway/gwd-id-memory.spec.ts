import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GwdIdMemory, parentGwd } from '../../../../coordinator/gridway/gwd-id-memory.js';
import { tempDir } from '../../../helpers/agent-fakes.js';

describe('coordinator/gridway/GwdIdMemory (gwd host ids across MAD restarts)', () => {
  it('gives the ids back only to a MAD of the same gwd process (pid and start time)', async () => {
    const file = path.join(await tempDir('vonode-gwd-ids-'), 'ids.json');
    const gwd = { pid: 4242, startTicks: '123456' };
    expect(new GwdIdMemory(file, gwd).save(new Map([['vwn-001', '0'], ['vwn-002', '1']]))).to.equal(true);
    expect([...new GwdIdMemory(file, gwd).load()]).to.deep.equal([['vwn-001', '0'], ['vwn-002', '1']]);
    expect(new GwdIdMemory(file, { pid: 4242, startTicks: '999' }).load().size, 'gwd restarted with the same pid: new ids').to.equal(0);
    expect(new GwdIdMemory(file, { pid: 4243, startTicks: '123456' }).load().size, 'another gwd').to.equal(0);
    expect(new GwdIdMemory(file, undefined).load().size, 'gwd unknown (no /proc)').to.equal(0);
  });

  it('ignores a missing, unreadable or malformed file, and ids that are not gwd ids', async () => {
    const dir = await tempDir('vonode-gwd-ids-');
    const gwd = { pid: 1, startTicks: '5' };
    expect(new GwdIdMemory(path.join(dir, 'none.json'), gwd).load().size).to.equal(0);
    await writeFile(path.join(dir, 'bad.json'), '{not json');
    expect(new GwdIdMemory(path.join(dir, 'bad.json'), gwd).load().size).to.equal(0);
    await writeFile(path.join(dir, 'odd.json'), JSON.stringify({ gwd, ids: { 'vwn-001': '3', 'vwn-002': 'x; rm' } }));
    expect([...new GwdIdMemory(path.join(dir, 'odd.json'), gwd).load()]).to.deep.equal([['vwn-001', '3']]);
  });

  it('reads a process identity from /proc/PID/stat, a command name with blanks and parentheses included', () => {
    const stat = `4242 (gw d (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 3 0 987654 1000 200 18446744073709551615`;
    expect(parentGwd(4242, () => stat)).to.deep.equal({ pid: 4242, startTicks: '987654' });
    expect(parentGwd(4242, () => { throw new Error('ENOENT'); })).to.equal(undefined);
    expect(parentGwd(process.pid), 'this process').to.have.property('startTicks').that.matches(/^\d+$/);
  });
});
