/** Which handler executes each kind of operator action. */
import type { OperatorActionKind } from '@cbdc/shared/dual-control';
import { bankOnboardingAction } from '../banks/onboard.js';
import { issuanceAction } from '../issuance/execute.js';
import { operatorKeyChangeAction, operatorRegistrationAction } from '../operators/register.js';
import { reserveEntryAction } from '../reserves/record.js';
import type { ActionHandler } from './actions.js';

const HANDLERS: Record<OperatorActionKind, ActionHandler> = {
  mint: issuanceAction,
  retire: issuanceAction,
  reserve_deposit: reserveEntryAction,
  reserve_withdrawal: reserveEntryAction,
  bank_onboarding: bankOnboardingAction,
  operator_registration: operatorRegistrationAction,
  operator_key_change: operatorKeyChangeAction,
};

export const handlerOf = (kind: OperatorActionKind): ActionHandler => HANDLERS[kind];
