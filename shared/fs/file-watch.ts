import { watch, type FSWatcher } from 'chokidar';

/**
 * Calls `onChange` whenever `file` is created or written (DHCP lease files,
 * dnsmasq logs, the site CRL). chokidar gives us
 * inotify events (so VMR ends within milliseconds of the lease write); a slow
 * poll backs it up because dnsmasq may replace the lease file, which some
 * inotify setups report late.
 */
export class FileWatch {
  private watcher: FSWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;

  constructor(
    private readonly file: string,
    private readonly onChange: () => void,
    private readonly pollMs = 1000,
  ) {}

  /** Starts watching; resolves once the watcher is ready. */
  async start(): Promise<void> {
    this.watcher = watch(this.file, { ignoreInitial: true, awaitWriteFinish: false });
    this.watcher.on('add', this.onChange).on('change', this.onChange);
    await new Promise<void>((resolve) => this.watcher?.once('ready', () => resolve()));
    this.poll = setInterval(this.onChange, this.pollMs);
    this.poll.unref();
  }

  /** Stops watching. */
  async stop(): Promise<void> {
    if (this.poll) clearInterval(this.poll);
    await this.watcher?.close();
  }
}
