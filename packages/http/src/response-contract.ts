/**
 * The server checks its own answers against its contract, in tests. Every answer of a documented
 * route must have a status the route declares, a content type declared for that status, and a
 * body its schema accepts with nothing left over (a field the schema does not name is a field the
 * document does not promise). Each breach is reported to `report`; the answer is still sent as it
 * was, so the test that provoked it sees the real behaviour and the test system fails the run when
 * it closes (test/support/system.ts).
 *
 * Production does not run this: its serializer is JSON.stringify (`plainSerializerCompiler`), as
 * validating every answer would cost on the hot path (a 1,000-item batch answer).
 */
import { isDeepStrictEqual } from 'node:util';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { safeParse, type $ZodType } from 'zod/v4/core';
import { PROBLEM_MEDIA_TYPE } from './openapi.js';

/** One answer that breaks the contract. */
export interface ContractViolation {
  method: string;
  url: string;
  status: number;
  problem: string;
}

type DeclaredResponse = $ZodType | { content?: Record<string, { schema: $ZodType }> };

/** The production serializer of answers with a schema: no validation. */
export const plainSerializerCompiler = () => (data: unknown) => JSON.stringify(data);

/** The route's declared response for `status`, if any. */
function declaredFor(req: FastifyRequest, status: number): DeclaredResponse | undefined {
  const responses = req.routeOptions.schema?.response as Record<string, DeclaredResponse> | undefined;
  return responses?.[status] ?? responses?.[String(status)];
}

/** Whether `req`'s route is in the document (hidden routes and the not-found handler are not). */
function documented(req: FastifyRequest): boolean {
  const schema = req.routeOptions.schema;
  return !!schema && !schema.hide;
}

/** A serializer compiler that validates each answer against its schema and reports what does not match. */
function validatingSerializerCompiler(report: (v: ContractViolation) => void) {
  return ({ schema, method, url, httpStatus }: { schema: unknown; method: string; url: string; httpStatus?: string }) =>
    (data: unknown) => {
      const json = JSON.stringify(data);
      const status = Number(httpStatus);
      const result = safeParse(schema as $ZodType, JSON.parse(json));
      if (!result.success) {
        const issues = result.error.issues.map((i) => `${i.path.join('/') || '(root)'}: ${i.message}`).join('; ');
        report({ method, url, status, problem: `the body does not match the declared schema: ${issues}` });
      } else if (!isDeepStrictEqual(JSON.parse(json), JSON.parse(JSON.stringify(result.data)))) {
        report({ method, url, status, problem: `the body holds fields the schema does not declare: ${json.slice(0, 500)}` });
      }
      return json;
    };
}

/** Checks that the status and content type of each answer are declared by its route. */
async function checkDeclared(report: (v: ContractViolation) => void, req: FastifyRequest, reply: FastifyReply) {
  if (!documented(req)) return;
  const status = reply.statusCode;
  const where = { method: req.method, url: req.routeOptions.url ?? req.url, status };
  const declared = declaredFor(req, status);
  if (!declared) return report({ ...where, problem: `status ${status} is not declared by the route` });
  const mediaType = String(reply.getHeader('content-type') ?? '').split(';')[0];
  const content = 'content' in declared && declared.content ? Object.keys(declared.content) : ['application/json'];
  if (!content.includes(mediaType)) report({ ...where, problem: `content type ${mediaType || '(none)'} is not declared for status ${status} (declared: ${content.join(', ')})` });
  if (status >= 400 && mediaType !== PROBLEM_MEDIA_TYPE) report({ ...where, problem: `an error answer must be ${PROBLEM_MEDIA_TYPE}` });
}

/** Installs the checks on `app` (before its routes are added). */
export function installResponseContract(app: FastifyInstance, report: (v: ContractViolation) => void): void {
  app.setSerializerCompiler(validatingSerializerCompiler(report) as never);
  app.addHook('onSend', async (req, reply, payload) => {
    await checkDeclared(report, req, reply);
    return payload;
  });
}
