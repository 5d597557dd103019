/**
 * Remembers that Temporal just refused or timed out, so the webhook hot path stops waiting for it:
 * while open, new events go straight to the inbox (answered in milliseconds). A successful delivery
 * closes it: the forwarder's, or a hot-path probe (at most one every `probeEveryMs`, one at a time),
 * so the breaker closes again even when the forwarder is not running.
 */
export class TemporalBreaker {
  private openedAt: number | null = null;
  private probing = false;
  private lastProbeAt = 0;

  constructor(private readonly probeEveryMs = 5_000) {}

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

  /**
   * While open: may this delivery try Temporal (true at most once per `probeEveryMs`, and never
   * while another probe is in flight)? The caller reports back with probeDone().
   */
  tryProbe(now = Date.now()): boolean {
    if (this.openedAt === null || this.probing || now - this.lastProbeAt < this.probeEveryMs) return false;
    this.probing = true;
    this.lastProbeAt = now;
    return true;
  }

  probeDone(): void {
    this.probing = false;
  }
}
