import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { readHookEvents, writeHookRecorder } from '../../../../scripts/testbed/lib/hook-recorder.js';
import { tempDir } from '../../../helpers/agent-fakes.js';

const run = promisify(execFile);

/** Runs the recorder as the coordinator does: the event on stdin, then end of input. */
async function feed(script: string, json: string): Promise<void> {
  const child = run(script, []);
  child.child.stdin!.end(json);
  await child;
}

describe('scripts/testbed/lib/hook-recorder (the testbed\'s event hook)', () => {
  it('keeps each run\'s stdin as one JSON file, and reads them back in the order they ran', async () => {
    const dir = await tempDir('vonode-hook-rec-');
    const events = path.join(dir, 'events');
    const script = await writeHookRecorder(path.join(dir, 'record-hook-event'), events);
    await feed(script, JSON.stringify({ version: 1, event: 'node_running', unixMs: 1 }));
    await feed(script, JSON.stringify({ version: 1, event: 'node_deployed', unixMs: 2 }));
    const kept = await readHookEvents(events);
    expect(kept.map((e) => e.event)).to.deep.equal(['node_running', 'node_deployed']);
    expect((await readdir(events)).filter((n) => n.startsWith('.')), 'no half-written file left').to.deep.equal([]);
  });

  it('reads nothing from a directory no hook has written to yet', async () => {
    expect(await readHookEvents(path.join(await tempDir('vonode-hook-rec-'), 'missing'))).to.deep.equal([]);
  });
});
