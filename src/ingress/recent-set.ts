/**
 * A bounded set of recently seen keys (least recently seen dropped first): answers a repeated Kisi
 * event without a round trip to Temporal. Only a shortcut: Temporal's REJECT_DUPLICATE on the
 * check-in workflow id is what guarantees one check-in per event.
 */
export class RecentSet {
  private readonly keys = new Map<string, true>();

  constructor(private readonly capacity: number) {}

  has(key: string): boolean {
    if (!this.keys.has(key)) return false;
    // Refresh: a key seen again stays longer.
    this.keys.delete(key);
    this.keys.set(key, true);
    return true;
  }

  add(key: string): void {
    this.keys.delete(key);
    this.keys.set(key, true);
    while (this.keys.size > this.capacity) {
      const oldest = this.keys.keys().next().value as string;
      this.keys.delete(oldest);
    }
  }

  get size(): number {
    return this.keys.size;
  }
}
