/**
 * Signed Nexudus webhooks, sent the way Nexudus sends them (POST, JSON array holding one entity,
 * `X-Nexudus-Hook-Signature`: HMAC-SHA256 of the raw body with the shared secret, hex), over a
 * keep-alive agent so the sender's own connection setup does not dominate what is measured.
 */
import http from 'node:http';
import { signNexudusBody } from '../../dev/sandbox/nexudus';

export interface WebhookAnswer {
  status: number;
  body: string;
}

export class WebhookSender {
  private readonly agent: http.Agent;
  /**
   * Requests sent again because the kept-alive connection they went out on was reset before any
   * answer: the server had closed it as idle (Node's keepAliveTimeout, 5 s) just as it was reused.
   * Such a request never reached the application; a benchmark reports how many there were.
   */
  resentAfterReset = 0;

  constructor(
    private readonly ingressUrl: string,
    private readonly secret: string,
    options: { maxSockets?: number } = {},
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 256 });
  }

  /** POST /webhooks/nexudus/<action> with `[entity]`, signed; resolves with the answer (any status). */
  async post(action: string, entity: unknown): Promise<WebhookAnswer> {
    try {
      return await this.send(action, entity);
    } catch (error) {
      // Node's documented race (http.ClientRequest.reusedSocket): retry once on a fresh connection.
      if (!(error as { resetOnReusedSocket?: boolean }).resetOnReusedSocket) throw error;
      this.resentAfterReset++;
      return this.send(action, entity);
    }
  }

  private send(action: string, entity: unknown): Promise<WebhookAnswer> {
    const body = JSON.stringify([entity]);
    const url = new URL(`/webhooks/nexudus/${action}`, this.ingressUrl);
    return new Promise((resolve, reject) => {
      let answered = false;
      const req = http.request(
        url,
        {
          method: 'POST',
          agent: this.agent,
          headers: {
            'Content-Type': 'application/json; charset=utf-8',
            'Content-Length': Buffer.byteLength(body),
            'X-Nexudus-Hook-Signature': signNexudusBody(body, this.secret, 'utf8'),
          },
        },
        (res) => {
          answered = true;
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.setTimeout(30_000, () => req.destroy(new Error('webhook: no answer within 30 s')));
      req.on('error', (error: NodeJS.ErrnoException) => {
        if (req.reusedSocket && error.code === 'ECONNRESET' && !answered) Object.assign(error, { resetOnReusedSocket: true });
        reject(error);
      });
      req.end(body);
    });
  }

  /** Like post, but a non-2xx answer is an error (for load loops that count failures). */
  async postOk(action: string, entity: unknown): Promise<WebhookAnswer> {
    const answer = await this.post(action, entity);
    if (answer.status < 200 || answer.status >= 300) throw new Error(`webhook ${action}: HTTP ${answer.status} ${answer.body.slice(0, 200)}`);
    return answer;
  }

  close(): void {
    this.agent.destroy();
  }
}
