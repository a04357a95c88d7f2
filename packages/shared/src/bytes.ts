/**
 * A small append-only byte writer for the canonical encodings. Every field is fixed-width
 * big-endian or length-prefixed, so an encoding can be reproduced byte for byte in any language.
 */
export class ByteWriter {
  private chunks: Buffer[] = [];

  /** Appends raw bytes. */
  raw(bytes: Uint8Array): this {
    this.chunks.push(Buffer.from(bytes));
    return this;
  }

  /** Appends an ASCII domain tag (no length prefix: tags are fixed per encoding). */
  tag(text: string): this {
    return this.raw(Buffer.from(text, 'ascii'));
  }

  u8(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xff) throw new RangeError(`u8 out of range: ${value}`);
    return this.raw(Buffer.of(value));
  }

  u32(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new RangeError(`u32 out of range: ${value}`);
    const b = Buffer.alloc(4);
    b.writeUInt32BE(value);
    return this.raw(b);
  }

  u64(value: bigint): this {
    if (value < 0n || value > 0xffffffffffffffffn) throw new RangeError(`u64 out of range: ${value}`);
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(value);
    return this.raw(b);
  }

  /** A string of at most 255 bytes, prefixed with its byte length as u8. */
  shortString(text: string): this {
    const bytes = Buffer.from(text, 'utf8');
    if (bytes.length > 0xff) throw new RangeError(`string longer than 255 bytes`);
    return this.u8(bytes.length).raw(bytes);
  }

  /** A string of at most 65535 bytes, prefixed with its byte length as u16. */
  longString(text: string): this {
    const bytes = Buffer.from(text, 'utf8');
    if (bytes.length > 0xffff) throw new RangeError(`string longer than 65535 bytes`);
    const len = Buffer.alloc(2);
    len.writeUInt16BE(bytes.length);
    return this.raw(len).raw(bytes);
  }

  /** Exactly 32 bytes (a SHA-256 digest). */
  digest(bytes: Uint8Array): this {
    if (bytes.length !== 32) throw new RangeError(`digest must be 32 bytes, got ${bytes.length}`);
    return this.raw(bytes);
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}
