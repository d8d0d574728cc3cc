import { expect } from 'chai';
import { appendFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { LogTail } from '../../../../agent/dhcp/log-tail.js';
import { tempDir } from '../../../helpers/agent-fakes.js';

describe('agent/dhcp/LogTail (real files, inotify)', () => {
  it('delivers only lines written after start, whole lines only, and survives truncation', async () => {
    const file = path.join(await tempDir(), 'x.log');
    await writeFile(file, 'old line\n');
    const lines: string[] = [];
    const tail = new LogTail(file, (l) => lines.push(l));
    await tail.start();
    try {
      await appendFile(file, 'new 1\nnew ');
      await appendFile(file, '2\n');
      await waitFor(() => lines.length === 2);
      expect(lines).to.deep.equal(['new 1', 'new 2']);
      await writeFile(file, 'after truncate\n');
      await waitFor(() => lines.length === 3);
      expect(lines[2]).to.equal('after truncate');
    } finally {
      await tail.stop();
    }
  });
});

async function waitFor(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
