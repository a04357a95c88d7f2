/**
 * Wallet freezes, pure. Two authorities may freeze a wallet, each recorded on its own: the
 * central bank (an operator, with a reason and a reference such as a court order) and the
 * wallet's bank (with a reason). Each lifts only its own freeze; a bank can never lift the
 * central bank's. A wallet is frozen for settlement while either holds, so the effective
 * `status` that settlement reads is derived here, never written on its own.
 */
import type { WalletStatus } from './ledger/settle.js';

export type FreezeAuthority = 'central' | 'bank';

export interface FreezeRecord {
  /** The operator (central) or bank (bank) that froze the wallet. */
  by: string;
  reason: string;
  /** The central bank's reference (for example a court order); null for a bank's freeze. */
  reference: string | null;
  atMs: number;
}

export interface WalletFreezes {
  status: WalletStatus;
  central: FreezeRecord | null;
  bank: FreezeRecord | null;
}

export type FreezeChange = { action: 'freeze'; record: FreezeRecord } | { action: 'lift' };

export type FreezeRefusal = 'wallet_closed' | 'wallet_already_frozen' | 'wallet_not_frozen' | 'frozen_by_central_bank';

/** The effective status: closed stays closed; frozen while either authority's freeze holds. */
export function effectiveStatus(closed: boolean, central: FreezeRecord | null, bank: FreezeRecord | null): WalletStatus {
  if (closed) return 'closed';
  return central || bank ? 'frozen' : 'active';
}

/** Applies one authority's freeze or lift, or names why it is refused. */
export function planFreezeChange(w: WalletFreezes, authority: FreezeAuthority, change: FreezeChange): WalletFreezes | FreezeRefusal {
  if (w.status === 'closed') return 'wallet_closed';
  const own = w[authority];
  if (change.action === 'freeze') {
    if (own) return 'wallet_already_frozen';
    if ((authority === 'central') !== (change.record.reference !== null)) throw new Error('invariant broken: a central freeze carries a reference, a bank freeze none');
  } else if (!own) {
    return authority === 'bank' && w.central ? 'frozen_by_central_bank' : 'wallet_not_frozen';
  }
  const next = { ...w, [authority]: change.action === 'freeze' ? change.record : null };
  return { ...next, status: effectiveStatus(false, next.central, next.bank) };
}
