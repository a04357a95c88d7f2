/** The Fastify instance both services start from: zod validation, problems, the OpenAPI contract, bounded bodies. */
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import swagger from '@fastify/swagger';
import { validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { installProblemHandling } from './problems.js';
import { contractTransform, contractTransformObject, SIGNED_REQUEST_SECURITY, withCommonResponses } from './openapi.js';
import { installResponseContract, plainSerializerCompiler, type ContractViolation } from './response-contract.js';

export interface BaseAppOptions {
  title: string;
  /** The document's description (Markdown): what the API is for and how requests are signed. */
  description: string;
  /** The tags the routes use, with a description each, in the order the reference shows them. */
  tags: ReadonlyArray<{ name: string; description: string }>;
  /** Where the service runs, for the document's `servers`. */
  servers: ReadonlyArray<{ url: string; description: string }>;
  bodyBytesMax: number;
  logger?: FastifyServerOptions['logger'];
  /** Tests: validate every answer against the route's declared responses and report each breach (see response-contract.ts). */
  onContractViolation?: (violation: ContractViolation) => void;
}

export type App = FastifyInstance;

/** The version of both documents; bump it with any change a client can notice. */
export const API_VERSION = '1.0.0';

/**
 * Builds the base app; routes are added by the service. The OpenAPI document is served at
 * /openapi.json and browsable at /docs, both without credentials.
 */
export async function buildBaseApp(o: BaseAppOptions) {
  const app = Fastify({
    logger: o.logger ?? false,
    bodyLimit: o.bodyBytesMax,
    // Per-request lines cost more than the request at load; errors and warnings are still logged.
    logController: new LogController({ disableRequestLogging: true }),
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  if (o.onContractViolation) installResponseContract(app, o.onContractViolation);
  else app.setSerializerCompiler(plainSerializerCompiler);
  installProblemHandling(app);
  // Before swagger's own hook, so that the document lists the problems every route shares.
  app.addHook('onRoute', withCommonResponses);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: o.title, description: o.description, version: API_VERSION, license: { name: 'Proprietary', identifier: 'LicenseRef-Proprietary' } },
      servers: o.servers.map((s) => ({ ...s })),
      tags: o.tags.map((t) => ({ ...t })),
      components: { securitySchemes: { ...SIGNED_REQUEST_SECURITY.schemes } as never },
      security: [{ keyId: [], timestamp: [], nonce: [], signature: [] }],
    },
    transform: contractTransform as never,
    transformObject: contractTransformObject as never,
  });
  app.get('/openapi.json', { config: { public: true }, schema: { hide: true } }, async () => app.swagger());
  app.get('/healthz', { config: { public: true }, schema: { hide: true } }, async () => ({ status: 'ok' }));
  await registerReferencePage(app);
  return app;
}

/**
 * The browsable reference at /docs (Scalar), served from the package itself: no CDN, no
 * credentials. Its routes are public and hidden from the document.
 */
async function registerReferencePage(app: FastifyInstance): Promise<void> {
  const { default: scalar } = await import('@scalar/fastify-api-reference');
  await app.register(async (docs) => {
    docs.addHook('onRoute', (route) => {
      route.config = { ...(route.config as object), public: true } as never;
    });
    await docs.register(scalar, { routePrefix: '/docs', configuration: { url: '/openapi.json', withDefaultFonts: false, hideClientButton: true }, logLevel: 'warn' });
  });
}
