import { ResnetServeError } from '../../../../errors.js';
import { MAX_DIMS } from '../tensor-shape.js';

/** How big the structure of an inference request's JSON may be; see {@link inferJsonBounds}. */
export interface JsonBounds {
  /** Nesting of arrays and objects. */
  maxDepth: number;
  /** Items of any one array (the flat `data` of the largest request is the longest). */
  maxArrayItems: number;
  /** Members of any one object (an input, its parameters). */
  maxObjectMembers: number;
  /** Arrays and objects in the whole document. */
  maxContainers: number;
  /** Array items and object members in the whole document. */
  maxItems: number;
}

/**
 * The bounds of a valid request for this model, with room to spare: `data` of N preprocessed tensors nested as
 * [N][3][224][224] is the deepest (7 levels inside `{"inputs":[{`) and longest (N·150 528 numbers, flat) thing a
 * request can hold, and the nested form has N·(3·224 + 3 + 1) arrays. Anything past these is not a request
 * this server would run, and V8's JSON.parse would turn it into an object graph many times its bytes
 * (`[[],[],…]`: ~30 bytes of heap per 3 bytes of JSON).
 */
export function inferJsonBounds(maxImages: number, elementsPerImage: number, rowsPerImage: number): JsonBounds {
  const values = maxImages * elementsPerImage;
  const containers = maxImages * (rowsPerImage + 4) + 1024;
  return {
    maxDepth: 10,
    maxArrayItems: values,
    maxObjectMembers: 64,
    maxContainers: containers,
    // Each nested array is an item of its parent too.
    maxItems: values + containers,
  };
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
/** `shape` as the bytes of a JSON key. */
const SHAPE_KEY = Buffer.from('shape');

interface Level {
  array: boolean;
  /** A `shape` array: at most {@link MAX_DIMS} items. */
  shape: boolean;
  /** Items (or members) so far, counting the one being read. */
  items: number;
  limit: number;
  /** A value (or key) has begun since the level opened or since its last comma. */
  started: boolean;
  /** An object between `{` or `,` and the member's `:`: the next string is a key. */
  expectKey: boolean;
}

/**
 * Checks the structure of JSON bytes as they arrive, before anything parses them: depth, items per array and
 * per object, containers and items in all, and that every `shape` array has at most {@link MAX_DIMS} items.
 * It does not check that the bytes are valid JSON (JSON.parse does, later); it only makes sure that what
 * JSON.parse will build is small. One pass, no allocation past a stack of at most `maxDepth` levels.
 */
export class JsonBoundsScanner {
  readonly #bounds: JsonBounds;
  readonly #stack: Level[] = [];
  #inString = false;
  #escaped = false;
  /** While reading a key: how many of its bytes matched `shape` so far, or -1 once it cannot be `shape`. */
  #keyMatch: number | undefined;
  #lastKeyWasShape = false;
  #containers = 0;
  #items = 0;

  constructor(bounds: JsonBounds) {
    this.#bounds = bounds;
  }

  /**
   * Scans the next bytes of the document.
   * @throws ResnetServeError INVALID_ARGUMENT at the first bound passed, naming it.
   */
  feed(bytes: Uint8Array): void {
    const stack = this.#stack;
    for (let i = 0; i < bytes.length; i++) {
      const byte = bytes[i]!;
      if (this.#inString) {
        if (this.#escaped) this.#escaped = false;
        else if (byte === BACKSLASH) this.#escaped = true;
        else if (byte === QUOTE) {
          this.#inString = false;
          if (this.#keyMatch !== undefined) this.#lastKeyWasShape = this.#keyMatch === SHAPE_KEY.length;
          this.#keyMatch = undefined;
          continue;
        }
        if (this.#keyMatch !== undefined && this.#keyMatch >= 0) {
          this.#keyMatch = SHAPE_KEY[this.#keyMatch] === byte ? this.#keyMatch + 1 : -1;
        }
        continue;
      }
      // Whitespace starts nothing.
      if (byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09) continue;
      const top = stack[stack.length - 1];
      if (byte === COMMA) {
        if (top !== undefined) {
          top.items++;
          top.started = true;
          top.expectKey = !top.array;
          this.#count(top);
        }
        continue;
      }
      if (byte === COLON) {
        if (top !== undefined) top.expectKey = false;
        continue;
      }
      if (byte === CLOSE_ARRAY || byte === CLOSE_OBJECT) {
        stack.pop();
        continue;
      }
      // Anything else starts a value (or a key): the first item of a level is counted here, the others at commas.
      if (top !== undefined && !top.started) {
        top.started = true;
        top.items = 1;
        this.#count(top);
      }
      if (byte === QUOTE) {
        this.#inString = true;
        this.#keyMatch = top?.expectKey === true ? 0 : undefined;
        continue;
      }
      if (byte === OPEN_ARRAY || byte === OPEN_OBJECT) this.#open(byte === OPEN_ARRAY, top);
    }
  }

  #open(array: boolean, parent: Level | undefined): void {
    const bounds = this.#bounds;
    if (this.#stack.length >= bounds.maxDepth) {
      this.#refuse(`nests arrays and objects deeper than ${bounds.maxDepth} levels`, bounds.maxDepth);
    }
    this.#containers++;
    if (this.#containers > bounds.maxContainers) {
      this.#refuse(`holds more than ${bounds.maxContainers} arrays and objects`, bounds.maxContainers);
    }
    const shape = array && parent !== undefined && !parent.array && this.#lastKeyWasShape;
    const limit = shape ? MAX_DIMS : array ? bounds.maxArrayItems : bounds.maxObjectMembers;
    this.#stack.push({ array, shape, items: 0, limit, started: false, expectKey: !array });
  }

  #count(level: Level): void {
    this.#items++;
    if (this.#items > this.#bounds.maxItems) this.#refuse(`holds more than ${this.#bounds.maxItems} values`, this.#bounds.maxItems);
    if (level.items > level.limit) {
      const what = level.shape
        ? `has a shape with more than ${MAX_DIMS} dimensions`
        : level.array
          ? `has an array of more than ${level.limit} items`
          : `has an object of more than ${level.limit} members`;
      this.#refuse(what, level.limit);
    }
  }

  #refuse(what: string, limit: number): never {
    throw new ResnetServeError('INVALID_ARGUMENT', `The inference request ${what}; no request this model runs is that large.`, {
      details: { parameter: 'body', limit },
    });
  }
}
