/**
 * Redis Cluster key slots, computed here as the servers compute them (CRC16-XMODEM of the key, or
 * of its hash tag, modulo 16,384), so that key placement can be chosen and checked without a server.
 *
 *   keySlot('123456789') === 0x31c3 % 16384 === 12739    (the cluster specification's test vector)
 *   keySlot('{cbdc-s0}:settle:wait') === keySlot('cbdc-s0')  (only the hash tag counts)
 */

/** How many slots a Redis Cluster has. */
export const REDIS_CLUSTER_SLOTS = 16_384;

const CRC16_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[i] = crc;
  }
  return table;
})();

/** CRC16-XMODEM (polynomial 0x1021, initial value 0) of `bytes`: the checksum Redis Cluster hashes keys with. */
export function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >> 8) ^ byte) & 0xff];
  return crc;
}

/** The part of a key that is hashed: the text between the first "{" and the next "}" if it is not empty, else the whole key. */
export function hashTagOf(key: string): string {
  const open = key.indexOf('{');
  if (open < 0) return key;
  const close = key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

/** The cluster slot of a key (0 to 16,383). */
export function keySlot(key: string): number {
  return crc16(Buffer.from(hashTagOf(key), 'utf8')) % REDIS_CLUSTER_SLOTS;
}
