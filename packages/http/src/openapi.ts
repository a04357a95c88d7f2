/**
 * The OpenAPI contract both services publish. A route declares in its schema an `operationId`,
 * `tags`, a `summary` and `description`, and a `response` schema for each success status plus
 * `...problemResponses(...)` for the errors particular to it. What every route shares is added here,
 * once, so that no route can forget it:
 *
 * - the problems any route can answer (`commonProblemStatuses`): 500 everywhere; 401, 429 and 503
 *   on every signed route; 400, 413 and 415 where a body is read; 400 where parameters are; 400,
 *   409 and 422 where an Idempotency-Key is read. `installContract` adds them to the route's
 *   `response` when the route is registered, so the document and the test-time response validation
 *   (./response-contract.ts) see the same list;
 * - the request headers (`requestHeaders` in a route's schema: Idempotency-Key, Prefer) and the
 *   response headers (RateLimit-* on every signed answer, Retry-After on 429 and 503,
 *   `idempotent-replayed` on the success of a route that reads an Idempotency-Key, and any a route
 *   names with `jsonResponse(..., { headers })`), added to the document by `contractTransform`;
 * - the signing headers, as four API-key security schemes required together.
 *
 * Component schemas are zod schemas with `.meta({ id })`; ids are global to the repository (both
 * services' schemas live in one zod registry): give each a distinct name.
 */
import type { RouteOptions } from 'fastify';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AUTH_HEADERS, NONCE_PATTERN } from '@cbdc/shared/request-auth';

export const PROBLEM_MEDIA_TYPE = 'application/problem+json';

export const fieldErrorSchema = z
  .object({
    field: z.string().meta({ description: 'Where: "body/transfers/3/amountMinor", "params/walletId", "querystring/cursor", "header/idempotency-key"', example: 'body/amountMinor' }),
    rule: z.string().meta({ description: 'The rule it broke', example: 'positive_integer_string' }),
    message: z.string().meta({ example: 'must be a whole number of fen above zero, digits only (no sign, fraction or exponent)' }),
  })
  .meta({ id: 'FieldError', description: 'One offending field and the rule it broke' });

const problemShape = {
  type: z.string().meta({ description: '`urn:cbdc:error:` followed by the code', example: 'urn:cbdc:error:invalid_request' }),
  title: z.string().meta({ description: "The code's title in the catalogue", example: 'The request does not match the schema' }),
  status: z.number().int().meta({ description: 'The HTTP status, repeated', example: 400 }),
  code: z.string().meta({ description: 'Stable machine-readable code from the error catalogue (docs/errors.md)', example: 'invalid_request' }),
  detail: z.string().optional().meta({ description: 'What happened, for a person', example: 'body/amountMinor: must be a whole number of fen above zero' }),
};

/** RFC 9457 problem details with the catalogue code (docs/errors.md). */
export const problemSchema = z
  .object({
    ...problemShape,
    errors: z.array(fieldErrorSchema).optional().meta({ description: 'Each offending field and the rule it broke (bad input)' }),
  })
  .catchall(z.unknown())
  .meta({
    id: 'Problem',
    description: 'RFC 9457 problem details. `code` is stable; other members may be added.',
    examples: [
      {
        type: 'urn:cbdc:error:unauthenticated',
        title: 'The request is not signed by a known key',
        status: 401,
        code: 'unauthenticated',
        detail: 'the request is not signed',
        errors: [{ field: 'header/x-cbdc-signature', rule: 'required', message: 'is required' }],
      },
    ],
  });

/** A problem about the input: `errors` names at least one field and the rule it broke. */
export const inputProblemSchema = z
  .object({
    ...problemShape,
    errors: z.array(fieldErrorSchema).min(1).meta({ description: 'Each offending field and the rule it broke' }),
  })
  .catchall(z.unknown())
  .meta({
    id: 'InputProblem',
    description: 'Problem details for bad input: `errors` names each offending field and rule; nothing was changed.',
    examples: [
      {
        type: 'urn:cbdc:error:invalid_request',
        title: 'The request does not match the schema',
        status: 400,
        code: 'invalid_request',
        detail: 'body/amountMinor: must be a whole number of fen above zero, digits only (no sign, fraction or exponent)',
        errors: [{ field: 'body/amountMinor', rule: 'positive_integer_string', message: 'must be a whole number of fen above zero, digits only (no sign, fraction or exponent)' }],
      },
    ],
  });

/** Statuses whose problems are about the input and must name the field (`errors`). */
export const INPUT_PROBLEM_STATUSES: ReadonlySet<number> = new Set([400, 404, 413, 415, 422]);

const PROBLEM_DESCRIPTIONS: Record<number, string> = {
  400: 'Bad input (`invalid_request`, `malformed_json`, `idempotency_key_required`): `errors` names each field and rule; nothing was changed',
  401: 'The request signature, timestamp or nonce did not verify (`unauthenticated`, `request_expired`, `request_replayed`); decided before the body is looked at',
  403: 'Authenticated, but not allowed (the code says why)',
  404: "Not found, or not this bank's: `errors` names the field",
  409: 'Conflicts with the current state (the code says which), or an Idempotency-Key whose first request is still running (`idempotency_key_in_use`, with Retry-After)',
  410: 'Gone: what it points to is past its retention (the code says what to do)',
  413: 'The body is larger than the limit (`body_too_large`)',
  415: 'The body is not `application/json` (`unsupported_media_type`)',
  422: 'Well-formed but refused by a rule (the code names it; `errors` names the field)',
  429: 'Rate limited (`rate_limited`): `errors` names the budget; retry after Retry-After',
  500: 'Internal error (`internal_error`); nothing is known to have changed',
  503: 'A backing service is unavailable or settlement is at capacity (`dependency_unavailable`, `overloaded`); nothing was done; retry after Retry-After',
};

/** A problem response as a route declares it: its description and the Problem schema as application/problem+json. */
export interface ProblemResponse {
  description: string;
  content: { [PROBLEM_MEDIA_TYPE]: { schema: typeof problemSchema | typeof inputProblemSchema } };
}

/** The error responses of a route, as problem details with a description each. */
export function problemResponses(...statuses: number[]): Record<number, ProblemResponse> {
  const out: Record<number, ProblemResponse> = {};
  for (const s of statuses) {
    out[s] = { description: PROBLEM_DESCRIPTIONS[s] ?? 'Problem details', content: { [PROBLEM_MEDIA_TYPE]: { schema: INPUT_PROBLEM_STATUSES.has(s) ? inputProblemSchema : problemSchema } } };
  }
  return out;
}

/** Response headers the services send, documented once. */
export const RESPONSE_HEADERS = {
  location: { description: 'Where to read the outcome: `/v1/transfers/{id}`', schema: { type: 'string', example: '/v1/transfers/9f2c4d0e1a7b3c5d9f2c4d0e1a7b3c5d9f2c4d0e1a7b3c5d9f2c4d0e1a7b3c5d' } },
  'retry-after': { description: 'Seconds to wait before retrying', schema: { type: 'string', pattern: '^[0-9]+$', example: '1' } },
  'idempotent-replayed': { description: '`true` when this is the stored answer of the first request made with the Idempotency-Key (or a funding answered from its recorded transfer)', schema: { type: 'string', enum: ['true'] } },
  'ratelimit-limit': { description: "The caller's request budget per window (IETF RateLimit header fields)", schema: { type: 'string', pattern: '^[0-9]+$', example: '1000' } },
  'ratelimit-remaining': { description: 'Requests left in the current window', schema: { type: 'string', pattern: '^[0-9]+$', example: '999' } },
  'ratelimit-reset': { description: 'Seconds until the window resets', schema: { type: 'string', pattern: '^[0-9]+$', example: '1' } },
} as const;
export type ResponseHeaderName = keyof typeof RESPONSE_HEADERS;

/** Request headers a route may read besides the signing headers (declared in its schema's `requestHeaders`). */
export const REQUEST_HEADERS = {
  'idempotency-key': {
    description: 'Makes the request safe to retry: a retry with the same key and the same request gets the stored answer (`idempotent-replayed: true`); the key with another request is refused (`422 idempotency_key_reused`). Signed.',
    schema: { type: 'string', pattern: '^[A-Za-z0-9_.:-]{8,128}$', example: 'funding-0001' },
  },
  prefer: {
    description: '`respond-async` (RFC 7240): answer `202` as soon as the work is queued, without waiting for settlement. Signed.',
    schema: { type: 'string', example: 'respond-async' },
  },
} as const;

/** How a route uses the optional request headers. */
export interface RequestHeaderUse {
  'idempotency-key'?: 'optional' | 'required';
  prefer?: 'optional';
}

declare module 'fastify' {
  interface FastifySchema {
    /** Request headers the handler reads besides the signing headers (documented; the handler validates them). */
    requestHeaders?: RequestHeaderUse;
  }
}

/** A JSON success response with a description, response headers and an example, as a route declares it. */
export function jsonResponse<S extends z.ZodType>(schema: S, o: { description: string; headers?: readonly ResponseHeaderName[]; example?: z.output<S> }) {
  return {
    description: o.description,
    ...(o.headers ? { headers: Object.fromEntries(o.headers.map((h) => [h, RESPONSE_HEADERS[h]])) } : {}),
    content: { 'application/json': { schema, ...(o.example === undefined ? {} : { example: o.example }) } },
  };
}

/** The statuses every route answers with problems besides those it declares (see the module comment). */
export function commonProblemStatuses(route: Pick<RouteOptions, 'method' | 'schema' | 'config'>): number[] {
  const statuses = new Set([500]);
  const schema = route.schema ?? {};
  if (!(route.config as { public?: boolean } | undefined)?.public) for (const s of [401, 429, 503]) statuses.add(s);
  const methods = ([] as string[]).concat(route.method);
  // Fastify reads a body on these methods whatever the schema says: it can be too large, not JSON or malformed.
  if (methods.some((m) => ['POST', 'PUT', 'PATCH', 'DELETE'].includes(m))) for (const s of [400, 413, 415]) statuses.add(s);
  if (schema.params || schema.querystring || schema.body) statuses.add(400);
  if (schema.requestHeaders?.['idempotency-key']) for (const s of [400, 409, 422]) statuses.add(s);
  return [...statuses];
}

/** Adds the problems every route shares to its `response` (the route's own declaration of a status wins). */
export function withCommonResponses(route: RouteOptions): void {
  const schema = route.schema;
  if (!schema || schema.hide) return;
  route.schema = { ...schema, response: { ...problemResponses(...commonProblemStatuses(route)), ...(schema.response as object | undefined) } };
}

const SUCCESS_DESCRIPTIONS: Record<string, string> = { 200: 'OK', 201: 'Created', 202: 'Accepted: the work is queued or awaits a second operator; the body says which' };

interface TransformInput {
  schema: Record<string, unknown> & { response?: Record<string, unknown>; requestHeaders?: RequestHeaderUse };
  url: string;
  route: RouteOptions;
  openapiObject: Record<string, unknown>;
}

/**
 * The swagger route transform: zod to JSON Schema (fastify-type-provider-zod), then what zod's
 * transform leaves out: request headers, response headers, descriptions of plain success schemas,
 * and `security: []` on public routes.
 */
export function contractTransform(input: TransformInput) {
  const { requestHeaders, ...schema } = input.schema ?? {};
  const out = jsonSchemaTransform({ ...input, schema } as never) as { schema: Record<string, unknown> & { response?: Record<string, Record<string, unknown>> }; url: string };
  if (schema.hide || !out.schema) return out;
  const isPublic = (input.route.config as { public?: boolean } | undefined)?.public === true;
  if (isPublic) out.schema.security = [];
  if (requestHeaders) {
    const names = Object.keys(requestHeaders) as Array<keyof RequestHeaderUse>;
    out.schema.headers = {
      type: 'object',
      properties: Object.fromEntries(names.map((n) => [n, { ...REQUEST_HEADERS[n].schema, description: REQUEST_HEADERS[n].description }])),
      required: names.filter((n) => requestHeaders[n] === 'required'),
    };
  }
  const declared = (schema.response ?? {}) as Record<string, { headers?: Record<string, unknown>; content?: Record<string, { example?: unknown }> }>;
  for (const [status, response] of Object.entries(out.schema.response ?? {})) {
    const code = Number(status);
    const headers: Record<string, unknown> = { ...(declared[status]?.headers ?? {}) };
    if (!isPublic) Object.assign(headers, { 'ratelimit-limit': RESPONSE_HEADERS['ratelimit-limit'], 'ratelimit-remaining': RESPONSE_HEADERS['ratelimit-remaining'], 'ratelimit-reset': RESPONSE_HEADERS['ratelimit-reset'] });
    if (code === 429 || code === 503) headers['retry-after'] = RESPONSE_HEADERS['retry-after'];
    if (code === 409 && requestHeaders?.['idempotency-key']) headers['retry-after'] = RESPONSE_HEADERS['retry-after'];
    if (code >= 200 && code < 300 && requestHeaders?.['idempotency-key']) headers['idempotent-replayed'] = RESPONSE_HEADERS['idempotent-replayed'];
    const flat = Object.fromEntries(Object.entries(headers).map(([name, h]) => [name, { ...(h as { schema: object }).schema, description: (h as { description: string }).description }]));
    // A plain zod schema (no `content`) is the JSON body; give it the status's description.
    const body = 'content' in response ? withExamples(response, declared[status]?.content) : { description: SUCCESS_DESCRIPTIONS[status] ?? 'Response', content: { 'application/json': { schema: response } } };
    out.schema.response![status] = Object.keys(flat).length ? { ...body, headers: flat } : body;
  }
  return out;
}

/** The transformed response with the examples its declaration gave per media type (zod's transform drops them). */
function withExamples(response: Record<string, unknown>, declared: Record<string, { example?: unknown }> | undefined) {
  if (!declared) return response;
  const content = { ...(response.content as Record<string, object>) };
  for (const [mediaType, media] of Object.entries(declared)) if (media.example !== undefined && content[mediaType]) content[mediaType] = { ...content[mediaType], example: media.example };
  return { ...response, content };
}

/** Every `$ref` target under `node`. */
function refsOf(node: unknown, into: Set<string>): Set<string> {
  if (Array.isArray(node)) for (const n of node) refsOf(n, into);
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') into.add(v);
      else refsOf(v, into);
    }
  }
  return into;
}

/**
 * The swagger document transform: zod's component schemas, kept to those the document uses (the
 * zod registry holds every service's schemas), sorted by name so that the document is stable.
 */
export function contractTransformObject(input: { openapiObject: Record<string, unknown> }) {
  const doc = jsonSchemaTransformObject(input as never) as Record<string, unknown> & { components: { schemas: Record<string, unknown> } };
  const all = doc.components.schemas;
  const used = new Set<string>();
  const visit = (ref: string) => {
    const name = ref.replace('#/components/schemas/', '');
    if (used.has(name) || !(name in all)) return;
    used.add(name);
    for (const r of refsOf(all[name], new Set())) visit(r);
  };
  for (const r of refsOf(doc.paths, new Set())) visit(r);
  doc.components.schemas = Object.fromEntries([...used].sort().map((name) => [name, all[name]]));
  return withSharedHeaders(doc);
}

const componentName = (header: string) => header.replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => `${dash}${c.toUpperCase()}`).replace('Ratelimit', 'RateLimit');

/** The document with each shared header written once, in components, and referenced where used. */
function withSharedHeaders<D extends Record<string, unknown> & { components: Record<string, unknown> }>(doc: D): D {
  const headers: Record<string, unknown> = {};
  const parameters: Record<string, unknown> = {};
  type Operation = { parameters?: Array<{ in: string; name: string; required?: boolean }>; responses?: Record<string, { headers?: Record<string, unknown> }> };
  for (const item of Object.values(doc.paths as Record<string, Record<string, Operation>>)) {
    for (const op of Object.values(item)) {
      for (const response of Object.values(op.responses ?? {})) {
        for (const name of Object.keys(response.headers ?? {})) {
          if (!(name in RESPONSE_HEADERS)) continue;
          const component = componentName(name);
          headers[component] = RESPONSE_HEADERS[name as ResponseHeaderName];
          response.headers![name] = { $ref: `#/components/headers/${component}` };
        }
      }
      op.parameters = op.parameters?.map((p) => {
        if (p.in !== 'header' || !(p.name in REQUEST_HEADERS)) return p;
        const component = `${componentName(p.name)}${p.required ? 'Required' : ''}`.replace('-', '');
        parameters[component] = { in: 'header', name: p.name, required: !!p.required, ...REQUEST_HEADERS[p.name as keyof typeof REQUEST_HEADERS] };
        return { $ref: `#/components/parameters/${component}` } as never;
      });
    }
  }
  const sorted = (o: Record<string, unknown>) =>
    Object.fromEntries(
      Object.keys(o)
        .sort()
        .map((k) => [k, o[k]]),
    );
  doc.components = { ...doc.components, ...(Object.keys(parameters).length ? { parameters: sorted(parameters) } : {}), headers: sorted(headers) };
  return doc;
}

/** The signing headers as security schemes, all four required together (docs/api.md, "Authentication"). */
export const SIGNED_REQUEST_SECURITY = {
  schemes: {
    keyId: { type: 'apiKey', in: 'header', name: AUTH_HEADERS.keyId, description: 'The bank id (gateway) or operator id (issuer) whose Ed25519 key signs the request' },
    timestamp: { type: 'apiKey', in: 'header', name: AUTH_HEADERS.timestamp, description: "Unix milliseconds, within the clock window (60 s) of the server's time" },
    nonce: { type: 'apiKey', in: 'header', name: AUTH_HEADERS.nonce, description: `Never reused within twice the clock window; ${NONCE_PATTERN.source}` },
    signature: {
      type: 'apiKey',
      in: 'header',
      name: AUTH_HEADERS.signature,
      description:
        'Hex Ed25519 signature of the string to sign: `CBDC-REQUEST-V2`, the audience, the method, the path with query, the timestamp, the nonce, the Content-Type, Idempotency-Key and Prefer headers as sent (or empty), and the hex SHA-256 of the raw body, joined with `\\n` (see docs/api.md)',
    },
  },
} as const;

/** A non-negative whole number as a decimal string (amounts in fen, sequence numbers, Unix milliseconds). */
export const decimalStringSchema = z
  .string()
  .regex(/^(0|[1-9][0-9]*)$/)
  .meta({ description: 'A non-negative whole number as a decimal string', example: '10000' });

/** A time as an ISO 8601 string in UTC. */
export const isoTimeSchema = z.string().meta({ format: 'date-time', description: 'ISO 8601, UTC', example: '2026-01-01T00:00:00.000Z' });

/** Lowercase hex of `bytes` bytes. */
export const hexSchema = (bytes: number, description: string) =>
  z
    .string()
    .regex(new RegExp(`^[0-9a-f]{${bytes * 2}}$`))
    .meta({ description });

/** How requests are signed, for the documents' descriptions (the full scheme and a test vector: docs/api.md). */
export const SIGNING_DESCRIPTION = `## Signed requests

Every request but \`/openapi.json\`, \`/docs\` and the public keys is signed with the caller's Ed25519 key. Send four headers:
\`${AUTH_HEADERS.keyId}\` (your bank or operator id), \`${AUTH_HEADERS.timestamp}\` (Unix milliseconds, within 60 s of the server's clock),
\`${AUTH_HEADERS.nonce}\` (16 to 64 characters of \`A-Z a-z 0-9 _ -\`, never reused) and \`${AUTH_HEADERS.signature}\`: the hex signature of these lines joined with \`\\n\`:

\`\`\`
CBDC-REQUEST-V2
<audience: the environment's id, e.g. cbdc-dev>
<METHOD>
<path and query exactly as sent>
<timestamp>
<nonce>
<Content-Type as sent, or empty>
<Idempotency-Key as sent, or empty>
<Prefer as sent, or empty>
<hex SHA-256 of the raw body bytes>
\`\`\`

Authentication is decided before the body is judged: a request that is not signed, or whose signature does not verify, is \`401\` whatever its body holds.
Errors are RFC 9457 problem details (\`application/problem+json\`) with a stable \`code\` (docs/errors.md); bad input names each field and rule in \`errors\`.
Rate limits: every signed answer carries \`RateLimit-Limit\`, \`RateLimit-Remaining\` and \`RateLimit-Reset\`; a refused request gets \`429\` with \`Retry-After\`.`;
