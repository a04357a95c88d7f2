/**
 * Replies from settlement to gateways travel through Redis, which is not a trust channel: each
 * reply entry is signed by the committing shard's chain key over the stream it is written to and
 * its JSON, and a gateway acts only on entries that verify against that shard's registered key.
 * Binding the stream name means an entry cannot be moved to another gateway's stream.
 *
 *   "CBDC-REPLY-V1" "\n" stream key "\n" result JSON      (UTF-8), signed with Ed25519
 */

/** The bytes a shard signs for one reply entry. */
export function replyEntryMessage(streamKey: string, resultJson: string): Buffer {
  return Buffer.from(`CBDC-REPLY-V1\n${streamKey}\n${resultJson}`, 'utf8');
}
