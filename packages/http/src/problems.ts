/**
 * Renders every error as RFC 9457 problem details with a catalogue code. Validation errors name
 * each field ("body/transfers/3/amountMinor") and the rule it broke ("positive_integer_string").
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { isUnreachable } from '@cbdc/db/connect';
import { ApiError, problemOf, type FieldError } from '@cbdc/shared/problem';
import type { ApiErrorCode } from '@cbdc/shared/errors';

declare module 'fastify' {
  interface FastifyRequest {
    /** The raw body bytes, as signed. */
    rawBody?: Buffer;
    /** Why the body could not be read, reported after authentication (see `deferredBodyError`). */
    bodyError?: ApiError;
  }
}

interface ZodValidationEntry {
  keyword: string;
  instancePath: string;
  message: string;
  params?: { keys?: string[]; expected?: string; input?: unknown; received?: string };
}

/** Turns one zod issue into a field error. Our schemas put the rule name before a colon in the message. */
export function fieldErrorOf(context: string, entry: ZodValidationEntry): FieldError[] {
  const base = `${context}${entry.instancePath === '/' ? '' : entry.instancePath}`;
  if (entry.keyword === 'unrecognized_keys') {
    return (entry.params?.keys ?? []).map((key) => ({ field: `${base}/${key}`, rule: 'unknown_field', message: `unknown field "${key}"` }));
  }
  const ruled = /^([a-z][a-z0-9_]*): (.*)$/.exec(entry.message);
  if (ruled) return [{ field: base, rule: ruled[1], message: ruled[2] }];
  if (entry.keyword === 'invalid_type' && /received undefined/.test(entry.message)) return [{ field: base, rule: 'required', message: 'is required' }];
  return [{ field: base, rule: entry.keyword, message: entry.message }];
}

/** Redis (or, on a cluster, the node of a key's slot) is away: a master failing over, the cluster down, the client's redirections spent. */
function isRedisDown(error: unknown): boolean {
  const message = (error as Error)?.message ?? '';
  // "Command timed out": a command unanswered within producerRedis's commandTimeout (a partition).
  return /Stream isn't writeable|enableOfflineQueue|Connection is closed|ECONNREFUSED|MaxRetriesPerRequest|Reached the max retries|OOM command not allowed|Command timed out|CLUSTERDOWN|TRYAGAIN|Too many Cluster redirections|None of startup nodes is available|Failed to refresh slots cache|Cluster is ended/.test(
    message,
  );
}

function send(reply: FastifyReply, code: ApiErrorCode, detail?: string, errors?: FieldError[], extra?: Record<string, unknown>, headers?: Record<string, string>) {
  const body = problemOf(code, detail, errors, extra);
  if (headers) reply.headers(headers);
  return reply.code(body.status).type('application/problem+json').send(body);
}

/** Installs the error handler, the not-found handler and the raw-body JSON parser. */
export function installProblemHandling(app: FastifyInstance): void {
  app.setNotFoundHandler((req, reply) => send(reply, 'route_not_found', `${req.method} ${req.url.split('?')[0]} is not a route of this API`, [{ field: 'path', rule: 'route', message: 'is not a route of this API (see /openapi.json)' }]));

  app.setErrorHandler((error: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof ApiError) return send(reply, error.code, error.message, error.errors, error.extra, error.headers);
    if (hasZodFastifySchemaValidationErrors(error)) {
      const context = (error as { validationContext?: string }).validationContext ?? 'body';
      const errors = (error.validation as unknown as ZodValidationEntry[]).flatMap((e) => fieldErrorOf(context, e));
      return send(reply, 'invalid_request', errors.map((e) => `${e.field}: ${e.message}`).join('; '), errors);
    }
    switch (error.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return send(reply, 'body_too_large', error.message, [{ field: 'body', rule: 'max_bytes', message: error.message }]);
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return send(reply, 'unsupported_media_type', error.message, [{ field: 'header/content-type', rule: 'application_json', message: 'must be application/json' }]);
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
        return send(reply, 'malformed_json', error.message, [{ field: 'body', rule: 'json', message: 'must be a JSON document' }]);
    }
    if (error.statusCode === 429) return send(reply, 'rate_limited', error.message, undefined, undefined, { 'retry-after': String(reply.getHeader('retry-after') ?? 1) });
    if (error instanceof SyntaxError || (error as { code?: string }).code === 'malformed_json') {
      return send(reply, 'malformed_json', 'the body is not valid JSON', [{ field: 'body', rule: 'json', message: error.message }]);
    }
    if (isUnreachable(error) || isRedisDown(error)) {
      req.log.warn({ err: error.message }, 'dependency unavailable');
      return send(reply, 'dependency_unavailable', 'a backing service is unavailable', undefined, undefined, { 'retry-after': '1' });
    }
    if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
      return send(reply, 'invalid_request', error.message, [{ field: 'request', rule: error.code ?? 'invalid', message: error.message }]);
    }
    req.log.error({ err: error }, 'unhandled error');
    return send(reply, 'internal_error');
  });

  // Only JSON is accepted (anything else is 415), and the raw bytes are kept: request
  // signatures cover the exact body sent. A body that cannot be read as JSON is not refused here
  // but after authentication (`deferredBodyError`): an unsigned or forged request gets 401, never
  // a hint about its body.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
    req.rawBody = body as Buffer;
    if ((body as Buffer).length === 0) return done(null, undefined);
    try {
      done(null, JSON.parse((body as Buffer).toString('utf8')));
    } catch (error) {
      req.bodyError = new ApiError('malformed_json', 'the body is not valid JSON', { errors: [{ field: 'body', rule: 'json', message: (error as Error).message }] });
      done(null, undefined);
    }
  });
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (req, body, done) => {
    req.rawBody = body as Buffer;
    req.bodyError = new ApiError('unsupported_media_type', `${req.headers['content-type'] ?? 'a body without a Content-Type'} is not accepted`, {
      errors: [{ field: 'header/content-type', rule: 'application_json', message: 'must be application/json' }],
    });
    done(null, undefined);
  });
}

/** The error of a body that could not be read (not JSON, malformed), to report once the caller is authenticated. */
export function deferredBodyError(req: FastifyRequest): ApiError | null {
  return req.bodyError ?? null;
}
