/**
 * Every upper bound of the system in one place, units in the names. Services read overrides
 * from their environment (see each service's config.ts) and call `checkLimits` at start-up.
 */
export const LIMITS = {
  /** Transfers accepted in one POST /v1/transfers/batch request. */
  transfersPerRequestMax: 1000,
  /** Transfers the gateway puts in one queue job (one micro-batch). */
  batchTransfersMax: 2000,
  /** Transfers, and queue jobs, that a settlement worker merges into one transaction. */
  settleBatchTransfersMax: 5000,
  settleBatchJobsMax: 200,
  /** Wallets a settlement worker holds in memory between batches (about 300 bytes each). */
  settleWalletsHeldMax: 500_000,
  /**
   * Entries kept in a gateway's reply stream and in the stream of cross-shard finals (each entry
   * one job's outcomes): a gateway this many jobs behind loses answers (its requests answer 202,
   * and the outcome is read by id). A reply stream nobody writes to for the TTL is removed.
   */
  replyStreamEntriesMax: 2000,
  replyStreamTtlMs: 3_600_000,
  /** How long the gateway holds a micro-batch open for more transfers. */
  batchLingerMs: 2,
  /** Request body size. */
  bodyBytesMax: 1024 * 1024,
  /** Page sizes of list endpoints. */
  pageSizeDefault: 50,
  pageSizeMax: 200,
  /** Memo length in UTF-8 bytes. */
  memoBytesMax: 140,
  /** A payment request's reference (shown to the payer), in UTF-8 bytes, and how far ahead it may expire. */
  requestReferenceBytesMax: 140,
  requestExpiryAheadMsMax: 30 * 24 * 60 * 60 * 1000,
  /** A bank's display name and a reserve entry's reference, in UTF-8 bytes. */
  bankNameBytesMax: 200,
  reserveReferenceBytesMax: 64,
  /** How far in the future a transfer may expire. */
  expiryAheadMsMax: 24 * 60 * 60 * 1000,
  /** How long a hold may hold money: its expiry is at most this far after it is placed (30 days). */
  holdDurationMsMax: 30 * 24 * 60 * 60 * 1000,
  /** How often a settlement worker returns the money of holds past their expiry, and how many per batch. */
  holdExpirySweepIntervalMs: 1000,
  holdsExpiredPerSweepMax: 1000,
  /** How long a synchronous submit waits for its outcome before answering 202 pending. */
  settleWaitMs: 10_000,
  /** Allowed clock difference between a signed request and the server (and between servers' clocks). */
  requestClockSkewMs: 60_000,
  /**
   * A transfer accepted (202) whose batch never records it reads `pending` until its expiry plus
   * requestClockSkewMs, then `not_settled` for this long, then 404. An accepted funding, which has
   * no expiry, reads `pending` for acceptedFundingPendingMs without a recorded outcome. Only items
   * settlement drops or Redis loses stay that long: a recorded item's pending record is removed.
   */
  acceptedNotSettledRetentionMs: 24 * 60 * 60 * 1000,
  acceptedFundingPendingMs: 24 * 60 * 60 * 1000,
  /** Issuer dual control: the rolling window of single-operator totals, and how long a pending action can be approved. */
  dualControlWindowMs: 24 * 60 * 60 * 1000,
  approvalTtlMs: 24 * 60 * 60 * 1000,
  /** The reason given for a freeze, lift or other recorded decision, in UTF-8 bytes. */
  reasonBytesMax: 200,
  /** Queue jobs waiting per shard before the gateway answers 503. */
  queueJobsWaitingMax: 500,
  /** Transfers a gateway holds in flight (queued or in its batcher) before answering 503. */
  gatewayTransfersInFlightMax: 50_000,
  /** Transactions a settlement worker may spend splitting one failed batch to isolate its culprits. */
  settleSplitTransactionsMax: 100,
  /** Delivery attempts of one settlement job. */
  settleJobAttemptsMax: 8,
  /** How long a gateway trusts a wallet's cached status (closed or not), and how many it holds. */
  walletFactsTtlMs: 30_000,
  walletFactsHeldMax: 500_000,
  /**
   * Rate limits, per window of rateLimitWindowMs, shared by every process through Redis (see
   * @cbdc/http/rate-limit). Requests per claimed bank key id, counted before any verification;
   * transfers per bank (the customer signatures a gateway must verify), counted before they are
   * verified; failed authentications per client IP, past which its requests are refused unread;
   * requests per operator at the issuer. The transfer budget is below half of the customer
   * signatures one machine verifies per second here (9,800 to 18,700, docs/performance.md), so that
   * one bank alone cannot take the verification capacity every bank shares.
   */
  rateLimitWindowMs: 1000,
  bankRequestsPerSecondMax: 2000,
  /** How long an Idempotency-Key and its stored answer are kept; after it, the key is new again. */
  idempotencyKeyRetentionMs: 24 * 60 * 60 * 1000,
  /**
   * How long a request whose effect happens outside its own transaction (a funding) owns its
   * key; a retry after it takes the key over and drives the request again (settlement dedups).
   */
  idempotencyLeaseMs: 30_000,
  /** How often a service deletes expired idempotency keys and request nonces, and how many per statement. */
  expiredRowsPruneIntervalMs: 60_000,
  expiredRowsPrunedPerRunMax: 10_000,
  bankTransfersPerSecondMax: 4_000,
  clientIpAuthFailuresPerSecondMax: 100,
  operatorRequestsPerSecondMax: 100,
  /** How often the issuer completes mints and retires left unfinished between servers, and how many per pass. */
  issuanceRecoveryIntervalMs: 2_000,
  issuanceRecoveredPerPassMax: 100,
  /**
   * Events (docs/events.md): how long a bank's events are kept (the feed replays that far back), how
   * often the delivery service prunes older ones, and how many per statement.
   */
  eventRetentionMs: 30 * 24 * 60 * 60 * 1000,
  eventsPruneIntervalMs: 60_000,
  eventsPrunedPerRunMax: 10_000,
  /** Webhook endpoints per bank, the length of an endpoint's URL and description, and of a rotation's overlap. */
  webhookEndpointsPerBankMax: 10,
  webhookUrlBytesMax: 2048,
  webhookDescriptionBytesMax: 200,
  webhookSecretOverlapMsDefault: 24 * 60 * 60 * 1000,
  webhookSecretOverlapMsMax: 7 * 24 * 60 * 60 * 1000,
  /**
   * Webhook delivery: one POST's timeout; attempts of one event and how long after its first failure
   * it is retried at most (the first bound reached dead-letters it); the backoff's first delay and
   * its ceiling (exponential, with full jitter); POSTs in flight per delivery process and per
   * endpoint (a slow receiver holds at most its own share); events one turn of an endpoint and
   * shard delivers before its cursor commits; bytes of a receiver's answer read (the rest dropped).
   */
  webhookDeliveryTimeoutMs: 5_000,
  webhookAttemptsMax: 10,
  webhookRetryAgeMsMax: 24 * 60 * 60 * 1000,
  webhookRetryBaseMs: 5_000,
  webhookRetryDelayMsMax: 60 * 60 * 1000,
  webhookDeliveriesInFlightMax: 32,
  webhookDeliveriesPerEndpointMax: 4,
  webhookEventsPerTurnMax: 20,
  webhookResponseBytesMax: 64 * 1024,
  /**
   * Reconciliation (docs/api.md): entries per page of a bank's listing or a treasury statement; the
   * longest settlement-time range one listing may ask for; and how far behind the gateway's clock a
   * listing stops, so that no entry can still commit below it: longer than a settlement batch may
   * take to commit after its time (the worker's commit deadline, 30 s, twice for a batch decided
   * while the one before it commits) plus the clock difference between hosts.
   */
  entriesPageSizeDefault: 100,
  entriesPageSizeMax: 1000,
  entriesRangeMsMax: 31 * 24 * 60 * 60 * 1000,
  entriesSettledLagMs: 120_000,
} as const;

export type Limits = { -readonly [K in keyof typeof LIMITS]: number };

/** Checks how the limits relate; throws naming the pair that does not fit. */
export function checkLimits(limits: Limits): void {
  const rules: Array<[boolean, string]> = [
    [limits.batchTransfersMax >= limits.transfersPerRequestMax, 'batchTransfersMax must be >= transfersPerRequestMax'],
    [limits.settleBatchTransfersMax >= limits.batchTransfersMax, 'settleBatchTransfersMax must be >= batchTransfersMax'],
    [limits.pageSizeDefault <= limits.pageSizeMax, 'pageSizeDefault must be <= pageSizeMax'],
    [limits.entriesPageSizeDefault <= limits.entriesPageSizeMax, 'entriesPageSizeDefault must be <= entriesPageSizeMax'],
    [limits.queueJobsWaitingMax * limits.batchTransfersMax >= limits.transfersPerRequestMax, 'queue must hold at least one full request'],
    [limits.gatewayTransfersInFlightMax >= limits.transfersPerRequestMax, 'gatewayTransfersInFlightMax must be >= transfersPerRequestMax'],
    [limits.idempotencyLeaseMs > limits.settleWaitMs, 'idempotencyLeaseMs must be > settleWaitMs (a waiting funding must not lose its key)'],
    [limits.idempotencyKeyRetentionMs > limits.idempotencyLeaseMs, 'idempotencyKeyRetentionMs must be > idempotencyLeaseMs'],
    [limits.holdDurationMsMax >= limits.expiryAheadMsMax, 'holdDurationMsMax must be >= expiryAheadMsMax (a hold outlives the time to submit it)'],
    [limits.holdsExpiredPerSweepMax <= limits.settleBatchTransfersMax, 'holdsExpiredPerSweepMax must be <= settleBatchTransfersMax'],
    [limits.bankTransfersPerSecondMax >= limits.transfersPerRequestMax, 'bankTransfersPerSecondMax must be >= transfersPerRequestMax (a full batch must fit in a window)'],
    [limits.webhookDeliveriesInFlightMax > limits.webhookDeliveriesPerEndpointMax, 'webhookDeliveriesInFlightMax must be > webhookDeliveriesPerEndpointMax (one slow endpoint must leave room for the others)'],
    [limits.webhookRetryDelayMsMax >= limits.webhookRetryBaseMs, 'webhookRetryDelayMsMax must be >= webhookRetryBaseMs'],
    [limits.webhookSecretOverlapMsMax >= limits.webhookSecretOverlapMsDefault, 'webhookSecretOverlapMsMax must be >= webhookSecretOverlapMsDefault'],
    [limits.webhookRetryAgeMsMax < limits.eventRetentionMs, 'webhookRetryAgeMsMax must be < eventRetentionMs (an event is retried while it is retained)'],
  ];
  for (const [ok, message] of rules) if (!ok) throw new Error(`limits: ${message}`);
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isFinite(value) || value <= 0) throw new Error(`limits: ${name} must be a positive number`);
  }
}
