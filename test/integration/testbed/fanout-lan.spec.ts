import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { FanoutLan, LinkRateSampler, type FanoutLanOptions, type LanMember } from '../../../scripts/testbed/lib/fanout-lan.js';
import { ProcessRunner, runChecked } from '../../../shared/process/command-runner.js';

// scripts/testbed/lib/fanout-lan.ts for real: namespaces, veths, a bridge and
// tbf qdiscs. A TCP transfer between two hosts must run at the links' rate,
// the sampler must see that rate, and setLinkMbit must change it.

const PORT = 9000;
const BYTES = 6 * 1024 * 1024;

/** Accepts one connection, counts its bytes, prints {bytes, ms} (first byte to end) and exits. */
const SINK = `
const net = require('node:net');
const [host, port] = process.argv.slice(1);
const srv = net.createServer((sock) => {
  let bytes = 0, t0 = 0;
  sock.on('data', (d) => { if (!t0) t0 = performance.now(); bytes += d.length; });
  sock.on('end', () => {
    process.stdout.write(JSON.stringify({ bytes, ms: performance.now() - t0 }) + '\\n');
    sock.end();
    srv.close();
  });
});
srv.listen(Number(port), host, () => process.stdout.write('listening\\n'));
`;

/** Connects, writes n zero bytes as fast as TCP takes them, closes. */
const SENDER = `
const net = require('node:net');
const [host, port, n] = process.argv.slice(1);
const chunk = Buffer.alloc(64 * 1024);
let left = Number(n);
const sock = net.connect(Number(port), host, function pump() {
  while (left > 0) {
    const k = Math.min(left, chunk.length);
    left -= k;
    if (!sock.write(chunk.subarray(0, k))) return void sock.once('drain', pump);
  }
  sock.end();
});
sock.on('error', (e) => { console.error(e.message); process.exit(1); });
sock.resume();
sock.on('close', () => process.exit(0));
`;

interface Proc {
  child: ChildProcess;
  /** Resolves with stdout once it exits 0; rejects with its stderr otherwise. */
  done: Promise<string>;
  /** Resolves when stdout has contained `text`. */
  printed(text: string): Promise<void>;
}

function start(argv: string[]): Proc {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters: Array<() => void> = [];
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    waiters.forEach((w) => w());
  });
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<string>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${argv.join(' ').slice(0, 80)}… exit ${code}: ${err}`))));
  });
  const printed = (text: string): Promise<void> =>
    Promise.race([
      done.then(() => {
        if (!out.includes(text)) throw new Error(`exited without printing ${text}`);
      }),
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (out.includes(text)) resolve();
        };
        waiters.push(check);
        check();
      }),
    ]);
  return { child, done, printed };
}

describe('FanoutLan (namespaces + tc)', function () {
  this.timeout(30_000);
  const runner = new ProcessRunner();
  const options: FanoutLanOptions = { prefix: 'vnft', subnet: '10.79.0', hosts: 2, hostLinkMbit: 40, repoLinkMbit: 40, runner };
  const lan = new FanoutLan(options);
  const [h1, h2] = lan.hosts as [LanMember, LanMember];
  const procs = new Set<Proc>();

  const vnftNamespaces = async (): Promise<string[]> =>
    (await runChecked(runner, ['ip', 'netns', 'list'])).stdout
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[0] ?? '')
      .filter((ns) => ns.startsWith('vnft-'))
      .sort();

  /** Sends BYTES from h1 to h2; the achieved payload rate in Mbit/s, measured at the receiver. */
  const transfer = async (): Promise<{ mbit: number; wallMbit: number }> => {
    const sink = start(h2.exec([process.execPath, '-e', SINK, h2.ip, String(PORT)]));
    procs.add(sink);
    await sink.printed('listening');
    const t0 = performance.now();
    const sender = start(h1.exec([process.execPath, '-e', SENDER, h2.ip, String(PORT), String(BYTES)]));
    procs.add(sender);
    const [out] = await Promise.all([sink.done, sender.done]);
    const wallMs = performance.now() - t0;
    const result = JSON.parse(out.split('\n').find((l) => l.startsWith('{'))!) as { bytes: number; ms: number };
    expect(result.bytes).to.equal(BYTES);
    return { mbit: (result.bytes * 8) / (result.ms * 1000), wallMbit: (result.bytes * 8) / (wallMs * 1000) };
  };

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    // a bigger LAN with the same prefix stands in for a crashed earlier run
    await new FanoutLan({ ...options, hosts: 3 }).create();
    await lan.create();
  });

  after(async () => {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await lan.destroy();
  });

  it('replaces leftovers of the same prefix and gives every member its address on an up link', async () => {
    expect(await vnftNamespaces()).to.deep.equal(['vnft-h01', 'vnft-h02', 'vnft-lan', 'vnft-repo']);
    expect([lan.lan.ip, lan.repo.ip, h1.ip, h2.ip]).to.deep.equal(['10.79.0.1', '10.79.0.2', '10.79.0.11', '10.79.0.12']);
    const { stdout } = await runChecked(runner, ['ip', '-n', 'vnft-lan', '-j', 'link', 'show', 'master', 'br0']);
    expect((JSON.parse(stdout) as Array<{ ifname: string }>).map((l) => l.ifname).sort()).to.deep.equal(['v-h01', 'v-h02', 'v-repo']);
  });

  it('limits a transfer to the link rate, and the sampler sees that rate', async () => {
    const sampler = new LinkRateSampler(lan, [h1, h2]);
    sampler.start();
    const { mbit, wallMbit } = await transfer();
    const [r1, r2] = await sampler.stop();
    console.log(`      40 Mbit/s links: ${mbit.toFixed(1)} Mbit/s at the receiver (${wallMbit.toFixed(1)} wall); h01 peak tx ${(r1!.maxTxBytesPerSec / 1e6).toFixed(2)} MB/s, ${r1!.txBytes} bytes`);
    expect(mbit).to.be.within(40 * 0.5, 40 * 1.15);
    expect(r1!.member).to.equal('h01');
    expect(r1!.maxTxBytesPerSec).to.be.within(5e6 * 0.5, 5e6 * 1.15);
    expect(r1!.txBytes).to.be.at.least(6e6);
    expect(r2!.rxBytes).to.be.at.least(6e6);
  });

  it('setLinkMbit raises the rate of a running LAN', async () => {
    const slow = await transfer();
    // the path is h01's upload and h02's download (its switch port), so both links are raised
    await lan.setLinkMbit(h1, 80);
    await lan.setLinkMbit(h2, 80);
    const fast = await transfer();
    console.log(`      40 → 80 Mbit/s: ${slow.mbit.toFixed(1)} → ${fast.mbit.toFixed(1)} Mbit/s`);
    expect(fast.mbit).to.be.above(slow.mbit * 1.4);
    expect(fast.mbit).to.be.at.most(80 * 1.15);
  });

  it('destroy deletes every namespace and is safe twice', async () => {
    await lan.destroy();
    await lan.destroy();
    expect(await vnftNamespaces()).to.deep.equal([]);
  });
});
