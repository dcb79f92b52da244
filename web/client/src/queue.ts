// Messages sent while the connection is down wait here and go out in order once it is open
// again. Bounded: past `max` the oldest are dropped (and counted), so a client offline for a
// long time cannot grow without limit.

export class SendQueue<T> {
  private items: T[] = [];
  dropped = 0;

  constructor(private readonly max = 1000) {}

  push(item: T): void {
    this.items.push(item);
    while (this.items.length > this.max) {
      this.items.shift();
      this.dropped++;
    }
  }

  /** Takes every queued item, oldest first. */
  drain(): T[] {
    const out = this.items;
    this.items = [];
    return out;
  }

  get length(): number {
    return this.items.length;
  }
}
