/** The Fastify instance both services start from: zod validation, problems, OpenAPI, bounded bodies. */
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import swagger from '@fastify/swagger';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { installProblemHandling } from './problems.js';

export interface BaseAppOptions {
  title: string;
  description: string;
  bodyBytesMax: number;
  logger?: FastifyServerOptions['logger'];
}

export type App = FastifyInstance;

/** Builds the base app; routes are added by the service. The OpenAPI document is served at /openapi.json. */
export async function buildBaseApp(o: BaseAppOptions) {
  const app = Fastify({
    logger: o.logger ?? false,
    bodyLimit: o.bodyBytesMax,
    // Per-request lines cost more than the request at load; errors and warnings are still logged.
    logController: new LogController({ disableRequestLogging: true }),
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installProblemHandling(app);
  await app.register(swagger, {
    openapi: {
      info: { title: o.title, description: o.description, version: '1.0.0' },
      components: {
        securitySchemes: {
          signedRequest: { type: 'apiKey', in: 'header', name: 'x-cbdc-signature', description: 'Ed25519 request signature; see docs/api.md' },
        },
      },
      security: [{ signedRequest: [] }],
    },
    transform: jsonSchemaTransform,
  });
  app.get('/openapi.json', { config: { public: true }, schema: { hide: true } }, async () => app.swagger());
  app.get('/healthz', { config: { public: true }, schema: { hide: true } }, async () => ({ status: 'ok' }));
  return app;
}
