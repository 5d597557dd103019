/**
 * A TCP proxy the drills put between the product's processes and Temporal, so Temporal can be made
 * unreachable (a network partition: the server keeps running, nobody reaches it) and reachable again
 * without touching the server.
 */
import net from 'node:net';

export class TcpProxy {
  private server: net.Server | undefined;
  private readonly open = new Set<net.Socket>();
  private cut = false;
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: () => number,
  ) {}

  async listen(): Promise<number> {
    this.server = net.createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.port;
  }

  private accept(client: net.Socket): void {
    if (this.cut) {
      // Accept-and-reset: the client sees its connection fail at once, as with a dropped route.
      client.destroy();
      return;
    }
    const upstream = net.connect({ host: this.targetHost, port: this.targetPort() });
    for (const s of [client, upstream]) {
      this.open.add(s);
      s.on('close', () => this.open.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Temporal unreachable: every open connection is reset and new ones are refused. */
  partition(): void {
    this.cut = true;
    for (const s of this.open) s.destroy();
  }

  heal(): void {
    this.cut = false;
  }

  get partitioned(): boolean {
    return this.cut;
  }

  async close(): Promise<void> {
    this.partition();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
