import { DeadlineError } from '../../shared/errors.js';
import type { Lease } from './dhcp-backend.js';

interface Waiter {
  mac: string;
  /** Decides if a lease seen now is new for this waiter. */
  accept(lease: Lease, raw: string): boolean;
  resolve(lease: Lease): void;
  reject(err: unknown): void;
}

/** Pending waits for leases, keyed by MAC, with timeout and abort handling. */
export class LeaseWaiters {
  private readonly waiters = new Set<Waiter>();

  /** Registers a wait; `accept` filters out leases that are not new. */
  wait(mac: string, timeoutMs: number, accept: Waiter['accept'], signal?: AbortSignal): Promise<Lease> {
    return new Promise<Lease>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.waiters.delete(waiter);
      };
      const waiter: Waiter = {
        mac,
        accept,
        resolve: (l) => (done(), resolve(l)),
        reject: (e) => (done(), reject(e)),
      };
      const timer = setTimeout(
        () => waiter.reject(new DeadlineError(`no DHCP lease for ${mac} within ${timeoutMs} ms: check the guest boots (console log) and reaches the DHCP server`)),
        timeoutMs,
      );
      const onAbort = (): void => waiter.reject(signal?.reason);
      if (signal?.aborted) return waiter.reject(signal.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(waiter);
    });
  }

  /** Offers a lease seen in the server's files to every waiter of its MAC. */
  offer(lease: Lease, raw: string): void {
    for (const w of [...this.waiters]) {
      if (w.mac === lease.mac && w.accept(lease, raw)) w.resolve(lease);
    }
  }

  /** True if anyone waits. */
  get active(): boolean {
    return this.waiters.size > 0;
  }

  /** Rejects all waits (shutdown). */
  rejectAll(err: Error): void {
    for (const w of [...this.waiters]) w.reject(err);
  }
}
