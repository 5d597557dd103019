/**
 * Remembers that Temporal just refused or timed out, so the webhook hot path stops waiting for it:
 * while open, new events go straight to the inbox (answered in milliseconds) and the forwarder,
 * whose next successful delivery closes it, is the only one probing Temporal.
 */
export class TemporalBreaker {
  private openedAt: number | null = null;

  get isOpen(): boolean {
    return this.openedAt !== null;
  }

  /** When it opened (ms), null while closed. */
  get since(): number | null {
    return this.openedAt;
  }

  open(now = Date.now()): void {
    this.openedAt ??= now;
  }

  close(): void {
    this.openedAt = null;
  }
}
