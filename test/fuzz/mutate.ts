import { mulberry32 } from '../helpers/random.js';

/**
 * A seeded byte mutator in the style of libFuzzer's MutationDispatcher (bit and byte flips, "interesting"
 * integers, inserts, erasures, copies within the input, dictionary tokens, crossover with another corpus
 * entry). Deterministic for a given seed, so every finding can be reproduced from its run's seed.
 */
export class Mutator {
  readonly #random: () => number;
  readonly #dictionary: readonly Uint8Array[];
  readonly #maxLength: number;

  constructor(seed: number, dictionary: readonly Uint8Array[], maxLength: number) {
    this.#random = mulberry32(seed);
    this.#dictionary = dictionary;
    this.#maxLength = maxLength;
  }

  /** An integer in 0..n-1. */
  below(n: number): number {
    return Math.floor(this.#random() * n);
  }

  /** One to four stacked mutations of `input`; `other` is a second corpus entry for crossover. */
  mutate(input: Uint8Array, other: Uint8Array): Uint8Array {
    let bytes: Uint8Array = input;
    const rounds = 1 + this.below(4);
    for (let i = 0; i < rounds; i++) bytes = this.#once(bytes, other);
    return bytes.length > this.#maxLength ? bytes.subarray(0, this.#maxLength) : bytes;
  }

  #once(input: Uint8Array, other: Uint8Array): Uint8Array {
    const bytes = new Uint8Array(input);
    const at = bytes.length === 0 ? 0 : this.below(bytes.length);
    switch (this.below(11)) {
      case 0: // flip one bit
        if (bytes.length > 0) bytes[at] = bytes[at]! ^ (1 << this.below(8));
        return bytes;
      case 1: // random byte
        if (bytes.length > 0) bytes[at] = this.below(256);
        return bytes;
      case 2: // small arithmetic on a byte, as lengths and counts are off by a few
        if (bytes.length > 0) bytes[at] = (bytes[at]! + this.below(33) - 16) & 0xff;
        return bytes;
      case 3: // an interesting 1-, 2-, 4- or 8-byte integer, either endianness
        return this.#interesting(bytes, at);
      case 4: // insert random bytes
        return splice(
          bytes,
          at,
          0,
          Uint8Array.from({ length: 1 + this.below(16) }, () => this.below(256)),
        );
      case 5: // erase a range
        return splice(bytes, at, 1 + this.below(Math.max(1, Math.min(64, bytes.length - at))), new Uint8Array(0));
      case 6: {
        // copy a range of the input over another place (repeated structures)
        const from = bytes.length === 0 ? 0 : this.below(bytes.length);
        const length = 1 + this.below(Math.max(1, Math.min(256, bytes.length - from)));
        return splice(bytes, at, 0, bytes.slice(from, from + length));
      }
      case 7: {
        // a dictionary token, inserted or overwritten
        if (this.#dictionary.length === 0) return bytes;
        const token = this.#dictionary[this.below(this.#dictionary.length)]!;
        return this.below(2) === 0 ? splice(bytes, at, 0, token) : splice(bytes, at, Math.min(token.length, bytes.length - at), token);
      }
      case 8: {
        // crossover: our head, the other entry's tail
        const cut = other.length === 0 ? 0 : this.below(other.length);
        return concat(bytes.subarray(0, at), other.subarray(cut));
      }
      case 9: // truncate
        return bytes.subarray(0, at);
      default: {
        // duplicate a long range (grows inputs towards limits)
        const length = Math.min(bytes.length - at, 1 + this.below(4096));
        return splice(bytes, at, 0, bytes.slice(at, at + length));
      }
    }
  }

  #interesting(bytes: Uint8Array, at: number): Uint8Array {
    const values = [
      0n,
      1n,
      0x7fn,
      0x80n,
      0xffn,
      0x100n,
      0x7fffn,
      0xffffn,
      0x7fffffffn,
      0x80000000n,
      0xffffffffn,
      0x7fffffffffffffffn,
      0xffffffffffffffffn,
    ];
    const value = values[this.below(values.length)]! - BigInt(this.below(2));
    const width = [1, 2, 4, 8][this.below(4)]!;
    if (at + width > bytes.length) return bytes;
    const little = this.below(2) === 0;
    for (let i = 0; i < width; i++) {
      const byte = Number((value >> BigInt(8 * i)) & 0xffn);
      bytes[little ? at + i : at + width - 1 - i] = byte;
    }
    return bytes;
  }
}

function splice(bytes: Uint8Array, at: number, remove: number, insert: Uint8Array): Uint8Array {
  return concat(bytes.subarray(0, at), insert, bytes.subarray(at + remove));
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
