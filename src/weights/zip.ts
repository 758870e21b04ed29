import { crc32, inflateRawSync } from 'node:zlib';
import { ResnetServeError } from '../errors.js';

/** One file of a ZIP archive, as its central directory describes it. */
export interface ZipEntry {
  readonly name: string;
  /** 0 = stored, 8 = deflated; other methods are rejected when the archive is opened. */
  readonly method: 0 | 8;
  readonly compressedSize: number;
  readonly size: number;
  readonly crc32: number;
  readonly localHeaderOffset: number;
}

export interface ZipArchive {
  /** Entries by name, in central-directory order. */
  readonly entries: ReadonlyMap<string, ZipEntry>;
  /**
   * The entry's uncompressed bytes, checked against its CRC-32. Stored entries are views into the archive
   * (no copy); deflated ones are inflated with the output bounded by the declared size.
   * @throws ResnetServeError CHECKPOINT_INVALID when the entry is absent or its bytes are malformed.
   */
  read(name: string): Uint8Array;
}

export interface ZipLimits {
  /** Most central-directory entries accepted; a torch checkpoint has one per storage plus ~6. Default 100 000. */
  maxEntries?: number;
}

const DEFAULT_MAX_ENTRIES = 100_000;
const EOCD_SIGNATURE = 0x06054b50;
const EOCD_SIZE = 22;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_LOCATOR_SIZE = 20;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const CENTRAL_SIZE = 46;
const LOCAL_SIGNATURE = 0x04034b50;
const LOCAL_SIZE = 30;
const ZIP64_EXTRA_ID = 0x0001;
/** The EOCD sits at the end, after an optional comment of at most 65 535 bytes (APPNOTE 4.3.16). */
const MAX_COMMENT = 0xffff;

/** True when the bytes start with a ZIP local file header (`PK\x03\x04`), as torch.save's archives do. */
export function isZip(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

function invalid(why: string): ResnetServeError {
  return new ResnetServeError('CHECKPOINT_INVALID', `Not a valid ZIP archive: ${why}.`);
}

/**
 * Opens a ZIP archive held in memory (PKWARE APPNOTE 6.3: end of central directory, ZIP64 end of central
 * directory when present, central directory, local headers). Only what torch.save and Python's zipfile
 * write is supported: no encryption, no multi-disk, methods stored and deflate. Every offset and size is
 * checked against the buffer before use.
 *
 * @param bytes the whole archive.
 * @param limits `maxEntries` (default 100 000).
 * @throws ResnetServeError CHECKPOINT_INVALID when any structure is malformed, out of bounds or unsupported.
 */
export function openZip(bytes: Uint8Array, limits: ZipLimits = {}): ZipArchive {
  const maxEntries = limits.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const directory = findCentralDirectory(view);
  if (directory.count > maxEntries) throw invalid(`it declares ${directory.count} entries, more than the limit of ${maxEntries}`);
  const entries = new Map<string, ZipEntry>();
  let at = directory.offset;
  const end = directory.offset + directory.size;
  for (let i = 0; i < directory.count; i++) {
    if (at + CENTRAL_SIZE > end || view.getUint32(at, true) !== CENTRAL_SIGNATURE) {
      throw invalid(`central directory entry ${i} is missing or out of bounds`);
    }
    const entry = parseCentralEntry(view, bytes, at, end, i);
    if (entries.has(entry.entry.name)) throw invalid(`entry ${JSON.stringify(entry.entry.name)} appears twice`);
    entries.set(entry.entry.name, entry.entry);
    at = entry.next;
  }
  return {
    entries,
    read(name: string): Uint8Array {
      const entry = entries.get(name);
      if (entry === undefined) throw invalid(`it has no entry named ${JSON.stringify(name)}`);
      return readEntry(view, bytes, entry);
    },
  };
}

interface CentralDirectory {
  count: number;
  size: number;
  offset: number;
}

function findCentralDirectory(view: DataView): CentralDirectory {
  const length = view.byteLength;
  if (length < EOCD_SIZE) throw invalid(`it is ${length} bytes long, shorter than an end-of-central-directory record`);
  let eocd = -1;
  for (let at = length - EOCD_SIZE; at >= Math.max(0, length - EOCD_SIZE - MAX_COMMENT); at--) {
    if (view.getUint32(at, true) === EOCD_SIGNATURE && at + EOCD_SIZE + view.getUint16(at + 20, true) === length) {
      eocd = at;
      break;
    }
  }
  if (eocd < 0) throw invalid('the end-of-central-directory record is missing (truncated file?)');
  if (view.getUint16(eocd + 4, true) !== 0 || view.getUint16(eocd + 6, true) !== 0) throw invalid('multi-disk archives are not supported');
  let directory: CentralDirectory = {
    count: view.getUint16(eocd + 10, true),
    size: view.getUint32(eocd + 12, true),
    offset: view.getUint32(eocd + 16, true),
  };
  const locator = eocd - ZIP64_LOCATOR_SIZE;
  if (locator >= 0 && view.getUint32(locator, true) === ZIP64_LOCATOR_SIGNATURE) {
    const zip64 = toOffset(view.getBigUint64(locator + 8, true), 'the ZIP64 end-of-central-directory offset');
    if (zip64 + 56 > locator || view.getUint32(zip64, true) !== ZIP64_EOCD_SIGNATURE) {
      throw invalid('the ZIP64 end-of-central-directory record is missing or out of bounds');
    }
    directory = {
      count: toOffset(view.getBigUint64(zip64 + 32, true), 'the ZIP64 entry count'),
      size: toOffset(view.getBigUint64(zip64 + 40, true), 'the ZIP64 central directory size'),
      offset: toOffset(view.getBigUint64(zip64 + 48, true), 'the ZIP64 central directory offset'),
    };
  }
  if (directory.offset + directory.size > length) throw invalid('the central directory lies outside the file');
  // Each entry takes at least 46 bytes, so a count the directory cannot hold is a lie worth refusing early.
  if (directory.count * CENTRAL_SIZE > directory.size)
    throw invalid(`it declares ${directory.count} entries in a ${directory.size}-byte central directory`);
  return directory;
}

function parseCentralEntry(view: DataView, bytes: Uint8Array, at: number, end: number, index: number): { entry: ZipEntry; next: number } {
  const flags = view.getUint16(at + 8, true);
  const method = view.getUint16(at + 10, true);
  const nameLength = view.getUint16(at + 28, true);
  const extraLength = view.getUint16(at + 30, true);
  const commentLength = view.getUint16(at + 32, true);
  const next = at + CENTRAL_SIZE + nameLength + extraLength + commentLength;
  if (next > end) throw invalid(`central directory entry ${index} runs past the directory`);
  const name = new TextDecoder().decode(bytes.subarray(at + CENTRAL_SIZE, at + CENTRAL_SIZE + nameLength));
  if ((flags & 0x1) !== 0) throw invalid(`entry ${JSON.stringify(name)} is encrypted`);
  if (method !== 0 && method !== 8)
    throw invalid(`entry ${JSON.stringify(name)} uses compression method ${method}; only stored (0) and deflate (8) are supported`);
  let size = view.getUint32(at + 24, true);
  let compressedSize = view.getUint32(at + 20, true);
  let localHeaderOffset = view.getUint32(at + 42, true);
  // APPNOTE 4.5.3: the ZIP64 extra field holds, in this order, only the fields saturated at 0xFFFFFFFF.
  const extra = findExtra(view, at + CENTRAL_SIZE + nameLength, extraLength, ZIP64_EXTRA_ID);
  if (extra !== undefined) {
    let field = extra.start;
    const take = (what: string): number => {
      if (field + 8 > extra.end) throw invalid(`entry ${JSON.stringify(name)} has a short ZIP64 extra field`);
      const value = toOffset(view.getBigUint64(field, true), `the ZIP64 ${what} of ${JSON.stringify(name)}`);
      field += 8;
      return value;
    };
    if (size === 0xffffffff) size = take('size');
    if (compressedSize === 0xffffffff) compressedSize = take('compressed size');
    if (localHeaderOffset === 0xffffffff) localHeaderOffset = take('offset');
  }
  if (method === 0 && compressedSize !== size) throw invalid(`stored entry ${JSON.stringify(name)} has different sizes`);
  if (localHeaderOffset + LOCAL_SIZE > view.byteLength) throw invalid(`entry ${JSON.stringify(name)} has a local header outside the file`);
  const crc = view.getUint32(at + 16, true);
  return { entry: { name, method, compressedSize, size, crc32: crc, localHeaderOffset }, next };
}

function findExtra(view: DataView, start: number, length: number, id: number): { start: number; end: number } | undefined {
  const end = start + length;
  let at = start;
  while (at + 4 <= end) {
    const fieldId = view.getUint16(at, true);
    const fieldSize = view.getUint16(at + 2, true);
    if (at + 4 + fieldSize > end) throw invalid('an extra field runs past its header');
    if (fieldId === id) return { start: at + 4, end: at + 4 + fieldSize };
    at += 4 + fieldSize;
  }
  return undefined;
}

function readEntry(view: DataView, bytes: Uint8Array, entry: ZipEntry): Uint8Array {
  const at = entry.localHeaderOffset;
  if (view.getUint32(at, true) !== LOCAL_SIGNATURE)
    throw invalid(`entry ${JSON.stringify(entry.name)} has no local header where the directory says`);
  // The local header's own name and extra lengths decide where data starts: torch pads the extra field
  // so storages are 64-byte aligned (caffe2/serialize/inline_container.cc, kFieldAlignment).
  const dataStart = at + LOCAL_SIZE + view.getUint16(at + 26, true) + view.getUint16(at + 28, true);
  const dataEnd = dataStart + entry.compressedSize;
  if (dataEnd > bytes.byteLength) throw invalid(`entry ${JSON.stringify(entry.name)} runs past the end of the file (truncated?)`);
  const raw = bytes.subarray(dataStart, dataEnd);
  let data: Uint8Array;
  if (entry.method === 0) {
    data = raw;
  } else {
    try {
      // maxOutputLength stops a deflate bomb at the declared size; +1 lets us notice an entry that lies.
      const inflated = entry.size === 0 ? new Uint8Array(0) : inflateRawSync(raw, { maxOutputLength: entry.size + 1 });
      data = new Uint8Array(inflated.buffer, inflated.byteOffset, inflated.byteLength);
    } catch (cause) {
      throw new ResnetServeError('CHECKPOINT_INVALID', `Not a valid ZIP archive: entry ${JSON.stringify(entry.name)} does not inflate.`, {
        cause,
      });
    }
    if (data.byteLength !== entry.size)
      throw invalid(`entry ${JSON.stringify(entry.name)} inflates to ${data.byteLength} bytes, not the declared ${entry.size}`);
  }
  if (crc32(data) !== entry.crc32) throw invalid(`entry ${JSON.stringify(entry.name)} fails its CRC-32 check (corrupted file?)`);
  return data;
}

function toOffset(value: bigint, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid(`${what} is out of range`);
  return Number(value);
}
