import { expect } from 'chai';
import { rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import path from 'node:path';
import { IdentityChannel } from '../../../../agent/hypervisor/identity-channel.js';
import { DeadlineError, UnavailableError } from '../../../../shared/errors.js';
import { tempDir } from '../../../helpers/agent-fakes.js';
import { until } from '../../../helpers/wait.js';

/** A guest's end of the identity port: a unix socket server that keeps its one connection and what it received. */
class FakeGuest {
  readonly received: string[] = [];
  conn: Socket | undefined;
  ended = false;
  private readonly server: Server;

  constructor(readonly socketPath: string) {
    this.server = createServer((c) => {
      this.conn = c;
      c.setEncoding('utf8');
      c.on('data', (d: string) => this.received.push(d));
      c.on('close', () => (this.ended = true));
      c.on('error', () => undefined);
    });
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.socketPath, () => resolve());
    });
  }

  async connected(): Promise<Socket> {
    return until('the host to connect', async () => this.conn, 2000, 5);
  }

  close(): Promise<void> {
    this.conn?.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe('agent/hypervisor/IdentityChannel', () => {
  let dir: string;
  let guest: FakeGuest;
  const channels: IdentityChannel[] = [];

  beforeEach(async () => {
    dir = await tempDir('vonode-ident-');
    guest = new FakeGuest(path.join(dir, 'identity.sock'));
  });

  afterEach(async () => {
    for (const c of channels.splice(0)) c.close();
    await guest.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  async function open(): Promise<{ channel: IdentityChannel; conn: Socket }> {
    await guest.listen();
    const channel = await IdentityChannel.connect(guest.socketPath, 1000);
    channels.push(channel);
    return { channel, conn: await guest.connected() };
  }

  describe('connect', () => {
    it('retries until the socket exists (QEMU creates it after it starts)', async () => {
      const connecting = IdentityChannel.connect(guest.socketPath, 2000);
      await new Promise((r) => setTimeout(r, 80));
      await guest.listen();
      const channel = await connecting;
      channels.push(channel);
      expect(await guest.connected()).to.not.equal(undefined);
    });

    it('throws UnavailableError naming the socket once the timeout passed', async () => {
      const started = Date.now();
      const err = await IdentityChannel.connect(guest.socketPath, 60).then(() => undefined, (e: unknown) => e);
      expect(err).to.be.instanceOf(UnavailableError);
      expect((err as Error).message).to.contain(guest.socketPath);
      expect(Date.now() - started).to.be.at.least(55).and.below(1500);
    });
  });

  describe('send', () => {
    it('sends one newline-terminated line, adding the newline only when missing', async () => {
      const { channel } = await open();
      channel.send('identity hostname=a');
      channel.send('second\n');
      await until('both lines', async () => (guest.received.join('') === 'identity hostname=a\nsecond\n' ? true : undefined), 2000, 5);
      expect(guest.received.join('')).to.equal('identity hostname=a\nsecond\n');
    });
  });

  describe('waitFor', () => {
    it('resolves with the first accepted line and drops the lines before it', async () => {
      const { channel, conn } = await open();
      conn.write('booting\nstill booting\nready\nok\n');
      expect(await channel.waitFor((l) => l === 'ready', 1000, 'ready')).to.equal('ready');
      // "booting" lines are gone; the line after the accepted one is kept.
      expect(await channel.waitFor(() => true, 1000, 'anything')).to.equal('ok');
    });

    it('assembles lines split across chunks and trims CR and blanks', async () => {
      const { channel, conn } = await open();
      const waiting = channel.waitFor((l) => l.startsWith('error') || l === 'ok', 2000, 'ack');
      conn.write('o');
      await new Promise((r) => setTimeout(r, 20));
      conn.write('k \r\n');
      expect(await waiting).to.equal('ok');
    });

    it('takes lines that arrived before it was called', async () => {
      const { channel, conn } = await open();
      conn.write('ready\n');
      await new Promise((r) => setTimeout(r, 30));
      expect(await channel.waitFor((l) => l === 'ready', 100, 'ready')).to.equal('ready');
    });

    it('wakes for a line that arrives while it waits', async () => {
      const { channel, conn } = await open();
      setTimeout(() => conn.write('ready\n'), 30);
      const started = Date.now();
      expect(await channel.waitFor((l) => l === 'ready', 2000, 'ready')).to.equal('ready');
      expect(Date.now() - started).to.be.below(1500);
    });

    it('throws DeadlineError naming what it waited for when no accepted line comes in time', async () => {
      const { channel, conn } = await open();
      conn.write('booting\n');
      const err = await channel.waitFor((l) => l === 'ready', 50, 'template point').then(() => undefined, (e: unknown) => e);
      expect(err).to.be.instanceOf(DeadlineError);
      expect((err as Error).message).to.contain('template point').and.contain('50 ms');
    });

    it('throws UnavailableError when the guest closes the port, after handing over the lines it sent', async () => {
      const { channel, conn } = await open();
      conn.end('error bad mac\n');
      expect(await channel.waitFor((l) => l.startsWith('error'), 1000, 'ack')).to.equal('error bad mac');
      const err = await channel.waitFor(() => true, 1000, 'identity acknowledgement').then(() => undefined, (e: unknown) => e);
      expect(err).to.be.instanceOf(UnavailableError);
      expect((err as Error).message).to.contain('closed before identity acknowledgement');
    });

    it('stops waiting with the signal\'s reason when aborted', async () => {
      const { channel } = await open();
      const abort = new AbortController();
      const reason = new Error('a deployment arrived');
      setTimeout(() => abort.abort(reason), 30);
      const started = Date.now();
      const err = await channel.waitFor(() => true, 5000, 'ready', abort.signal).then(() => undefined, (e: unknown) => e);
      expect(err).to.equal(reason);
      expect(Date.now() - started).to.be.below(2000);
    });

    it('throws at once for a signal aborted before the call, even with a line waiting', async () => {
      const { channel, conn } = await open();
      conn.write('ready\n');
      await new Promise((r) => setTimeout(r, 20));
      const abort = new AbortController();
      abort.abort(new Error('stop'));
      const err = await channel.waitFor(() => true, 1000, 'ready', abort.signal).then(() => undefined, (e: unknown) => e);
      expect((err as Error).message).to.equal('stop');
    });
  });

  it('close() ends the connection (the guest sees it)', async () => {
    const { channel } = await open();
    channel.close();
    await until('the guest to see the close', async () => (guest.ended ? true : undefined), 2000, 5);
    expect(guest.ended).to.equal(true);
  });
});
