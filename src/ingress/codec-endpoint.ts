/**
 * The codec endpoint for the Temporal Web UI (and `temporal --codec-endpoint`): the UI sends the
 * payloads it shows and gets them back decrypted, so an operator reads inputs, results and
 * summaries while Temporal keeps only ciphertext. Behind the operator guard; CORS for the UI's
 * origin(s) only (CODEC_CORS_ORIGINS; in development the local dev server's UI).
 *
 *   POST /codec/decode            Authorization: Bearer <OPS_TOKEN>
 *   POST /codec/<OPS_TOKEN>/decode for the Web UI, which cannot send that header
 *
 * Body and answer are the codec protocol's `{"payloads": [{"metadata": {...}, "data": "..."}]}`
 * (protobuf JSON: bytes as base64). A payload that cannot be decrypted (a key not configured here)
 * is returned as it came, so the others still show. Nothing is encoded here: the UI only reads.
 */
import express, { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import type { Payload, PayloadCodec } from '@temporalio/common';
import type { Logger } from '../config/logger';
import { describeIssues, sendError } from './http-errors';

const base64 = z.string().regex(/^[A-Za-z0-9+/_-]*={0,2}$/, { message: 'expected base64' });
const bodySchema = z.object({
  payloads: z.array(z.object({ metadata: z.record(z.string(), base64).optional().nullable(), data: base64.optional().nullable() })).max(10_000),
});

export interface CodecEndpointDeps {
  /** The process' codec; undefined without payload keys (payloads are then returned as they are). */
  codec: PayloadCodec | undefined;
  /** The operator guard, with the token allowed in the `token` path parameter. */
  guard: RequestHandler;
  /** Origins allowed to call from a browser. */
  corsOrigins: string[];
  logger: Logger;
}

export function codecRoutes(deps: CodecEndpointDeps): Router {
  const router = Router();
  const allowed = new Set(deps.corsOrigins);

  // CORS first: a browser's preflight carries no credentials and must be answered before the guard.
  router.use('/codec', (req, res, next) => {
    const origin = req.get('origin');
    if (origin !== undefined && allowed.has(origin)) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.setHeader('Access-Control-Allow-Headers', 'Content-Type, X-Namespace, Authorization');
      res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
      res.setHeader('Access-Control-Max-Age', '600');
    }
    res.vary('Origin');
    if (req.method === 'OPTIONS') {
      res.status(origin !== undefined && allowed.has(origin) ? 204 : 403).end();
      return;
    }
    next();
  });

  const decode: RequestHandler = async (req, res) => {
    const body = bodySchema.safeParse(req.body);
    if (!body.success) {
      sendError(res, 400, 'invalid payloads', describeIssues(body.error.issues));
      return;
    }
    const payloads: Payload[] = body.data.payloads.map((p) => ({
      metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, new Uint8Array(Buffer.from(v, 'base64'))])),
      data: new Uint8Array(Buffer.from(p.data ?? '', 'base64')),
    }));
    const decoded = await Promise.all(
      payloads.map(async (payload) => {
        if (!deps.codec) return payload;
        try {
          return (await deps.codec.decode([payload]))[0]!;
        } catch (error) {
          deps.logger.warn({ err: error }, 'codec endpoint: a payload could not be decoded; returned as it came');
          return payload;
        }
      }),
    );
    res.json({
      payloads: decoded.map((p) => ({
        metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString('base64')])),
        data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
      })),
    });
  };

  // The UI posts with Content-Type application/json; histories can be large.
  const json = express.json({ type: () => true, limit: '8mb' });
  router.post('/codec/decode', deps.guard, json, decode);
  router.post('/codec/:token/decode', deps.guard, json, decode);
  return router;
}
