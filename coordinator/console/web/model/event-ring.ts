/**
 * A fixed-capacity ring buffer: `push` is O(1) and overwrites the oldest
 * entry once full, so a burst of events never grows the page's memory.
 * Throws RangeError for a capacity below 1.
 */
export class EventRing<T> {
  private readonly items: (T | undefined)[];
  private head = 0; // next write position
  private count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`ring capacity must be a positive integer, got ${capacity}`);
    this.items = new Array<T | undefined>(capacity);
  }

  /** Entries held now (at most `capacity`). */
  get size(): number {
    return this.count;
  }

  /** Appends an entry, dropping the oldest when full. */
  push(item: T): void {
    this.items[this.head] = item;
    this.head = (this.head + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
  }

  /** The entries, newest first (a copy: O(size), for rendering). */
  newestFirst(): T[] {
    const out: T[] = [];
    for (let i = 1; i <= this.count; i++) out.push(this.items[(this.head - i + this.capacity) % this.capacity]!);
    return out;
  }

  /** Forgets every entry. */
  clear(): void {
    this.items.fill(undefined);
    this.head = 0;
    this.count = 0;
  }
}
