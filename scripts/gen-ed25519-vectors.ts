/**
 * Writes docs/vectors/ed25519-edge-cases.json: the edge-case table of the one Ed25519 rule
 * (packages/shared/src/ed25519-vectors.ts, made with @noble/curves' point arithmetic), as hex, so
 * that a bank can test its own verifier and key check against it. `ed25519.test.ts` fails if the
 * file and the generator disagree. Run with `npx tsx scripts/gen-ed25519-vectors.ts`.
 */
import { writeFileSync } from 'node:fs';
import { ed25519EdgeCasesHex } from '@cbdc/shared/ed25519-vectors';

const vectors = ed25519EdgeCasesHex();
writeFileSync(new URL('../docs/vectors/ed25519-edge-cases.json', import.meta.url), JSON.stringify(vectors, null, 2) + '\n');
console.log(`wrote ${vectors.length} vectors`);
