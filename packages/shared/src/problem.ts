/**
 * RFC 9457 problem details. Every 4xx and 5xx answer of every service is one of these, with a
 * stable `code` from the error catalogue and, for bad input, `errors` naming each field and rule.
 */
import { API_ERRORS, type ApiErrorCode } from './errors.js';

export interface FieldError {
  /** JSON pointer style path of the offending field, e.g. "/transfers/3/amountMinor" or "header/idempotency-key". */
  field: string;
  /** The rule it broke, e.g. "positive_integer_string", "required", "unknown_field". */
  rule: string;
  message: string;
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  code: ApiErrorCode;
  detail?: string;
  errors?: FieldError[];
  [extra: string]: unknown;
}

/** An error a handler throws to answer with a problem; the service error handler renders it. */
export class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly status: number;
  readonly errors?: FieldError[];
  readonly extra?: Record<string, unknown>;
  readonly headers?: Record<string, string>;

  constructor(code: ApiErrorCode, detail?: string, options: { errors?: FieldError[]; extra?: Record<string, unknown>; headers?: Record<string, string> } = {}) {
    super(detail ?? API_ERRORS[code].title);
    this.code = code;
    this.status = API_ERRORS[code].status;
    this.errors = options.errors;
    this.extra = options.extra;
    this.headers = options.headers;
  }
}

/** The problem body for a code. */
export function problemOf(code: ApiErrorCode, detail?: string, errors?: FieldError[], extra?: Record<string, unknown>): Problem {
  const { status, title } = API_ERRORS[code];
  return {
    type: `urn:cbdc:error:${code}`,
    title,
    status,
    code,
    ...(detail ? { detail } : {}),
    ...(errors && errors.length ? { errors } : {}),
    ...extra,
  };
}
