/** Onboarding banks (a second operator approves) and reading them. */
import { z } from 'zod';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { idempotencyKeyOf } from '@cbdc/http/idempotency';
import { jsonResponse, problemResponses } from '@cbdc/http/openapi';
import { ApiError } from '@cbdc/shared/problem';
import { LIMITS } from '@cbdc/shared/limits';
import { bankIdSchema, publicKeyHexSchema, textSchema } from '@cbdc/shared/schemas';
import { actionView, requestActionIn } from '../approvals/actions.js';
import type { IssuerContext } from '../context.js';
import { bankOnboardingAction } from './onboard.js';
import { bankListSchema, bankSchema, operatorActionSchema } from '../schemas.js';
import { bankView, loadBanks } from './view.js';

export async function bankRoutes(app: FastifyInstance, ctx: IssuerContext): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const { sql } = ctx;

  r.post(
    '/v1/banks',
    {
      schema: {
        operationId: 'requestBankOnboarding',
        tags: ['banks'],
        summary: 'Request the onboarding of a commercial bank',
        description: 'Always under dual control: answers 202 with the pending action; a second operator approves it (POST /v1/approvals/{id}/approve), which creates the bank, its reserve account and its treasury wallet.',
        requestHeaders: { 'idempotency-key': 'optional' },
        body: z.strictObject({ id: bankIdSchema, name: textSchema('name', LIMITS.bankNameBytesMax), publicKey: publicKeyHexSchema }),
        response: { 202: jsonResponse(operatorActionSchema, { description: 'The pending action (`bank_onboarding`, always dual)' }), ...problemResponses(409) },
      },
    },
    async (req, reply) => {
      return ctx.idempotency.inTransaction(req, reply, idempotencyKeyOf(req, false), async (tx) => {
        const outcome = await requestActionIn(tx as never, ctx, bankOnboardingAction, {
          kind: 'bank_onboarding',
          bankId: req.body.id,
          amountMinor: null,
          params: { id: req.body.id, name: req.body.name, publicKey: req.body.publicKey },
          requestedBy: req.principal,
          authority: req.signedRequest,
        });
        return outcome.executed ? { status: 201, body: outcome.body } : { status: 202, body: actionView(outcome.action, ctx.now()) };
      });
    },
  );

  r.get(
    '/v1/banks',
    {
      schema: {
        operationId: 'listBanks',
        tags: ['banks'],
        summary: 'List banks with their reserves and treasury balances',
        description: 'Every onboarded bank, in id order.',
        response: { 200: bankListSchema },
      },
    },
    async () => ({ banks: (await loadBanks(sql, ctx)).map(bankView) }),
  );

  r.get(
    '/v1/banks/:bankId',
    {
      schema: {
        operationId: 'getBank',
        tags: ['banks'],
        summary: 'Read a bank',
        description: "Its reserve position and its treasury's balance.",
        params: z.strictObject({ bankId: bankIdSchema }),
        response: { 200: bankSchema, ...problemResponses(404) },
      },
    },
    async (req) => {
      const [bank] = await loadBanks(sql, ctx, req.params.bankId);
      if (!bank) throw new ApiError('bank_not_found', `no bank ${req.params.bankId}`, { errors: [{ field: 'params/bankId', rule: 'existing_bank', message: 'is not a registered bank' }] });
      return bankView(bank);
    },
  );
}
