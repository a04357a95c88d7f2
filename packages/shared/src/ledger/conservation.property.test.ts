/**
 * Property: any sequence of mints, fundings, payments, redemptions and retires, applied through
 * the pure issuance rules and the settlement core, conserves money (wallet balances = supply =
 * mints - retirements, and reserves + supply = deposits), never overdraws, never exceeds a cap.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planMint, planRetire } from '../issuance/reserve.js';
import { limitsOf, TIERS, type Tier } from '../tiers.js';
import { dayOf, settleBatch, type SettlementItem, type WalletState } from './settle.js';

const BANKS = ['bank-a', 'bank-b'] as const;
const DEPOSIT_MINOR = 100_000_000n;

type Op =
  | { type: 'mint' | 'retire'; bank: number; amount: bigint }
  | { type: 'fund'; wallet: number; amount: bigint }
  | { type: 'pay'; from: number; to: number; amount: bigint }
  | { type: 'redeem'; wallet: number; amount: bigint }
  | { type: 'tick'; hours: number };

const amount = fc.bigInt({ min: 1n, max: 3_000_000n });
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ type: fc.constantFrom('mint' as const, 'retire' as const), bank: fc.nat(1), amount }),
  fc.record({ type: fc.constant('fund' as const), wallet: fc.nat(5), amount }),
  fc.record({ type: fc.constant('pay' as const), from: fc.nat(5), to: fc.nat(5), amount }),
  fc.record({ type: fc.constant('redeem' as const), wallet: fc.nat(5), amount }),
  fc.record({ type: fc.constant('tick' as const), hours: fc.integer({ min: 1, max: 30 }) }),
);

describe('conservation property', () => {
  it('holds for random operation sequences', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...TIERS), { minLength: 6, maxLength: 6 }), fc.array(op, { maxLength: 80 }), (tiers: Tier[], ops: Op[]) => {
        let now = 1_700_000_000_000;
        let supply = 0n;
        let minted = 0n;
        let retired = 0n;
        let seq = 0;
        const freeReserve = BANKS.map(() => DEPOSIT_MINOR);
        const wallets = new Map<string, WalletState>();
        for (const bank of BANKS)
          wallets.set(`t_${bank}`, { id: `t_${bank}`, bankId: bank, kind: 'treasury', tier: null, status: 'active', balanceMinor: 0n, dailySpentMinor: 0n, dailySpentDay: 0, inFlightOutMinor: 0n, heldMinor: 0n, publicKey: null });
        const customer = (i: number) => `w_${i}`;
        tiers.forEach((tier, i) =>
          wallets.set(customer(i), {
            id: customer(i),
            bankId: BANKS[i % 2],
            kind: 'customer',
            tier,
            status: 'active',
            balanceMinor: 0n,
            dailySpentMinor: 0n,
            dailySpentDay: 0,
            inFlightOutMinor: 0n,
            heldMinor: 0n,
            publicKey: new Uint8Array(32),
          }),
        );

        const settle = (payer: string, payee: string, amt: bigint, kind: 'transfer' | 'funding') => {
          seq++;
          const item: SettlementItem = {
            type: 'origin',
            id: seq.toString(16).padStart(64, '0'),
            kind,
            bankId: wallets.get(payer)!.bankId,
            payerWalletId: payer,
            payeeWalletId: payee,
            amountMinor: amt,
            nonce: kind === 'funding' ? null : BigInt(seq),
            expiresAtMs: BigInt(now + 1000),
            payeeRemote: false,
            authority: { by: kind === 'funding' ? 'bank' : 'customer', message: new Uint8Array(), signature: new Uint8Array() },
          };
          // This property is about money, not authority (settle.test.ts covers that): every signature holds.
          const result = settleBatch([item], {
            nowMs: now,
            wallets,
            recordedIds: new Set(),
            usedNonces: new Set(),
            recordedCredits: new Map(),
            inFlight: new Map(),
            bankKeys: new Map(BANKS.map((b) => [b, new Uint8Array(32)])),
            verify: () => true,
          });
          for (const [id, w] of result.changedWallets) wallets.set(id, w);
        };

        for (const o of ops) {
          if (o.type === 'mint' || o.type === 'retire') {
            const treasury = wallets.get(`t_${BANKS[o.bank]}`)!;
            const state = { bankFreeReserveMinor: freeReserve[o.bank], treasuryBalanceMinor: treasury.balanceMinor, supplyMinor: supply };
            const next = o.type === 'mint' ? planMint(state, o.amount) : planRetire(state, o.amount);
            if (typeof next === 'string') continue;
            freeReserve[o.bank] = next.bankFreeReserveMinor;
            wallets.set(treasury.id, { ...treasury, balanceMinor: next.treasuryBalanceMinor });
            supply = next.supplyMinor;
            if (o.type === 'mint') minted += o.amount;
            else retired += o.amount;
          } else if (o.type === 'fund') {
            settle(`t_${BANKS[o.wallet % 2]}`, customer(o.wallet), o.amount, 'funding');
          } else if (o.type === 'pay') {
            if (o.from !== o.to) settle(customer(o.from), customer(o.to), o.amount, 'transfer');
          } else if (o.type === 'redeem') {
            settle(customer(o.wallet), `t_${BANKS[o.wallet % 2]}`, o.amount, 'transfer');
          } else if (o.type === 'tick') {
            now += o.hours * 3_600_000;
          }

          let balances = 0n;
          for (const w of wallets.values()) {
            expect(w.balanceMinor).toBeGreaterThanOrEqual(0n);
            const limits = limitsOf(w.kind, w.tier);
            if (limits.balanceMaxMinor !== null) expect(w.balanceMinor).toBeLessThanOrEqual(limits.balanceMaxMinor);
            if (limits.dailyOutflowMaxMinor !== null && w.dailySpentDay === dayOf(now)) expect(w.dailySpentMinor).toBeLessThanOrEqual(limits.dailyOutflowMaxMinor);
            balances += w.balanceMinor;
          }
          expect(balances).toBe(supply);
          expect(supply).toBe(minted - retired);
          expect(freeReserve.reduce((a, b) => a + b, 0n) + supply).toBe(DEPOSIT_MINOR * BigInt(BANKS.length));
        }
      }),
      { numRuns: 300 },
    );
  });
});
