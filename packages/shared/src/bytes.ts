/**
 * A small append-only byte writer for the canonical encodings. Every field is fixed-width
 * big-endian or length-prefixed, so an encoding can be reproduced byte for byte in any language.
 *
 * Fields are written straight into one buffer that doubles when full: the encodings run once per
 * transfer at the gateway and once per leaf in settlement, and a buffer per field (then a concat)
 * cost several microseconds per encoding.
 */
export class ByteWriter {
  private buf: Buffer;
  private length = 0;

  constructor(initialCapacity = 256) {
    this.buf = Buffer.allocUnsafe(initialCapacity);
  }

  private reserve(n: number): number {
    const at = this.length;
    if (at + n > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, at + n));
      this.buf.copy(grown, 0, 0, at);
      this.buf = grown;
    }
    this.length = at + n;
    return at;
  }

  /** Appends raw bytes. */
  raw(bytes: Uint8Array): this {
    const at = this.reserve(bytes.length);
    this.buf.set(bytes, at);
    return this;
  }

  /** Appends an ASCII domain tag (no length prefix: tags are fixed per encoding). */
  tag(text: string): this {
    const at = this.reserve(text.length);
    this.buf.write(text, at, 'latin1');
    return this;
  }

  u8(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xff) throw new RangeError(`u8 out of range: ${value}`);
    const at = this.reserve(1); // before reading this.buf: reserving may replace it
    this.buf[at] = value;
    return this;
  }

  u32(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new RangeError(`u32 out of range: ${value}`);
    const at = this.reserve(4); // before reading this.buf: reserving may replace it
    this.buf.writeUInt32BE(value, at);
    return this;
  }

  u64(value: bigint): this {
    if (value < 0n || value > 0xffffffffffffffffn) throw new RangeError(`u64 out of range: ${value}`);
    const at = this.reserve(8); // before reading this.buf: reserving may replace it
    this.buf.writeBigUInt64BE(value, at);
    return this;
  }

  /** A string of at most 255 bytes, prefixed with its byte length as u8. */
  shortString(text: string): this {
    const n = Buffer.byteLength(text, 'utf8');
    if (n > 0xff) throw new RangeError(`string longer than 255 bytes`);
    const at = this.reserve(1 + n);
    this.buf[at] = n;
    this.buf.write(text, at + 1, n, 'utf8');
    return this;
  }

  /** A string of at most 65535 bytes, prefixed with its byte length as u16. */
  longString(text: string): this {
    const n = Buffer.byteLength(text, 'utf8');
    if (n > 0xffff) throw new RangeError(`string longer than 65535 bytes`);
    const at = this.reserve(2 + n);
    this.buf.writeUInt16BE(n, at);
    this.buf.write(text, at + 2, n, 'utf8');
    return this;
  }

  /** Exactly 32 bytes (a SHA-256 digest). */
  digest(bytes: Uint8Array): this {
    if (bytes.length !== 32) throw new RangeError(`digest must be 32 bytes, got ${bytes.length}`);
    return this.raw(bytes);
  }

  /** A copy of the bytes written so far. */
  bytes(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.length));
  }
}
