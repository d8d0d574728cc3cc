import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import path from 'node:path';
import { receiveToFile, sendFile } from '../../../../agent/hypervisor/migration-stream.js';
import { digestFile } from '../../../../shared/fs/file-digest.js';
import { tempDir } from '../../../helpers/agent-fakes.js';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('agent/hypervisor/migration-stream', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await tempDir('vonode-mig-');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('round-trips a few MB through sendFile and receiveToFile; both digests are the file\'s sha256', async () => {
    // Not a multiple of the 1 MiB read size, so the last chunk is partial.
    const data = randomBytes(3 * 1024 * 1024 + 12345);
    const src = path.join(dir, 'state.bin');
    const dst = path.join(dir, 'copy.bin');
    await writeFile(src, data);
    const sock = path.join(dir, 'save.sock');

    const receiver = await receiveToFile(sock, dst);
    try {
      const sent = await sendFile(sock, src);
      const received = await receiver.done;
      const want = { bytes: data.length, sha256: sha256(data) };
      expect(sent).to.deep.equal(want);
      expect(received).to.deep.equal(want);
      const copy = await readFile(dst);
      expect(copy.length).to.equal(data.length);
      expect(copy.equals(data)).to.equal(true);
    } finally {
      receiver.close();
    }
  });

  it('an empty file round-trips as 0 bytes with the empty sha256', async () => {
    const src = path.join(dir, 'empty.bin');
    await writeFile(src, Buffer.alloc(0));
    const sock = path.join(dir, 's.sock');
    const receiver = await receiveToFile(sock, path.join(dir, 'out.bin'));
    const sent = await sendFile(sock, src);
    const received = await receiver.done;
    receiver.close();
    expect(sent).to.deep.equal({ bytes: 0, sha256: sha256(Buffer.alloc(0)) });
    expect(received).to.deep.equal(sent);
    expect((await stat(path.join(dir, 'out.bin'))).size).to.equal(0);
  });

  it('receiveToFile replaces a stale file at the socket path (a crash left it)', async () => {
    const sock = path.join(dir, 'save.sock');
    await writeFile(sock, 'stale');
    const src = path.join(dir, 'in.bin');
    const data = randomBytes(1000);
    await writeFile(src, data);
    const receiver = await receiveToFile(sock, path.join(dir, 'out.bin'));
    await sendFile(sock, src);
    expect((await receiver.done).sha256).to.equal(sha256(data));
    receiver.close();
  });

  it('receiveToFile takes one connection only (the hypervisor\'s migration)', async () => {
    const sock = path.join(dir, 'save.sock');
    const src = path.join(dir, 'in.bin');
    await writeFile(src, randomBytes(2000));
    const receiver = await receiveToFile(sock, path.join(dir, 'out.bin'));
    await sendFile(sock, src);
    await receiver.done;
    const second = await sendFile(sock, src).then(() => undefined, (e: unknown) => e);
    expect(second).to.be.instanceOf(Error);
    receiver.close();
  });

  it('receiveToFile\'s done rejects when the file cannot be written', async () => {
    const sock = path.join(dir, 'save.sock');
    const src = path.join(dir, 'in.bin');
    await writeFile(src, randomBytes(2000));
    const receiver = await receiveToFile(sock, path.join(dir, 'no-such-dir', 'out.bin'));
    await sendFile(sock, src).catch(() => undefined); // the receiver may drop the connection
    const err = await receiver.done.then(() => undefined, (e: unknown) => e);
    receiver.close();
    expect((err as NodeJS.ErrnoException | undefined)?.code).to.equal('ENOENT');
  });

  it('after close() the receiver accepts nothing', async () => {
    const sock = path.join(dir, 'save.sock');
    const src = path.join(dir, 'in.bin');
    await writeFile(src, randomBytes(10));
    const receiver = await receiveToFile(sock, path.join(dir, 'out.bin'));
    receiver.close();
    await new Promise((r) => setTimeout(r, 20));
    const err = await sendFile(sock, src).then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(Error);
  });

  it('sendFile rejects when nothing listens on the socket', async () => {
    const src = path.join(dir, 'in.bin');
    await writeFile(src, randomBytes(10));
    const err = await sendFile(path.join(dir, 'absent.sock'), src).then(() => undefined, (e: unknown) => e);
    expect((err as NodeJS.ErrnoException | undefined)?.code).to.be.oneOf(['ENOENT', 'ECONNREFUSED']);
  });

  it('sendFile streams into any listener (QEMU\'s -incoming) and then ends the connection', async () => {
    const sock = path.join(dir, 'incoming.sock');
    const chunks: Buffer[] = [];
    let ended!: () => void;
    const gotEnd = new Promise<void>((r) => (ended = r));
    const server = createServer((c: Socket) => {
      c.on('data', (d: Buffer) => chunks.push(d));
      c.on('end', () => ended());
    });
    await new Promise<void>((r) => server.listen(sock, () => r()));
    try {
      const data = randomBytes(2 * 1024 * 1024);
      const src = path.join(dir, 'in.bin');
      await writeFile(src, data);
      const sent = await sendFile(sock, src);
      await gotEnd;
      expect(Buffer.concat(chunks).equals(data)).to.equal(true);
      expect(sent).to.deep.equal({ bytes: data.length, sha256: sha256(data) });
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  describe('digestFile', () => {
    it('gives the size and sha256 of a file larger than one read chunk', async () => {
      const data = randomBytes(2 * 1024 * 1024 + 7);
      const file = path.join(dir, 'memory.bin');
      await writeFile(file, data);
      expect(await digestFile(file)).to.deep.equal({ bytes: data.length, sha256: sha256(data) });
    });

    it('agrees with what sendFile reports for the same file', async () => {
      const data = randomBytes(300_000);
      const file = path.join(dir, 'state.bin');
      await writeFile(file, data);
      const sock = path.join(dir, 's.sock');
      const receiver = await receiveToFile(sock, path.join(dir, 'out.bin'));
      const sent = await sendFile(sock, file);
      await receiver.done;
      receiver.close();
      expect(await digestFile(file)).to.deep.equal(sent);
    });

    it('rejects for a missing file', async () => {
      const err = await digestFile(path.join(dir, 'absent')).then(() => undefined, (e: unknown) => e);
      expect((err as NodeJS.ErrnoException | undefined)?.code).to.equal('ENOENT');
    });
  });
});
