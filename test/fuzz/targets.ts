import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import protobuf from 'protobufjs';
import { ERROR_CODES } from '../../src/errors.js';
import { decodeImage, readImageHeader } from '../../src/image/decode.js';
import { gifTransparentColour } from '../../src/image/gif-transparency.js';
import { detectImageFormat, sniffImageFormat } from '../../src/image/sniff.js';
import { buildApp } from '../../src/server/app.js';
import { type ModelInferRequestMessage, wireFromGrpc } from '../../src/server/protocols/oip/grpc/messages.js';
import { guardModelInfer, loadService, PROTO_PATH, RefusedRequest, wireLimitsOf } from '../../src/server/protocols/oip/grpc/server.js';
import { planInference } from '../../src/server/protocols/oip/infer-request.js';
import { MAX_DIMS } from '../../src/server/protocols/oip/tensor-shape.js';
import { unpickle } from '../../src/weights/pickle.js';
import { readStateDict } from '../../src/weights/read.js';
import { readSafetensors } from '../../src/weights/safetensors.js';
import { findTensorMap, TorchUnpickleContext } from '../../src/weights/torch-pickle.js';
import { openZip } from '../../src/weights/zip.js';
import { FakeClassifier } from '../helpers/fake-classifier.js';
import { multipartBody } from '../helpers/multipart.js';
import { KSERVE_SAMPLE_REQUEST, SPEC_JSON_REQUEST, specBinaryRequest } from '../helpers/oip-spec-examples.js';

/**
 * What the fuzzer runs. A target's `run` resolves for an input it accepts and throws a ResnetServeError
 * for one it refuses; anything else it throws (a TypeError, a RangeError, a plain Error raised here
 * because an HTTP answer broke the contract) is a bug. The same targets replay the kept regression
 * inputs in CI (test/unit/fuzz-regressions.test.ts).
 */
export interface FuzzTarget {
  readonly name: string;
  /** Starting inputs, from the real fixtures. */
  seeds(): Uint8Array[];
  /** Tokens the mutator splices in: magic numbers, opcodes, header keys. */
  readonly dictionary: readonly string[];
  /** Inputs are cut to this many bytes. */
  readonly maxLength: number;
  /** Builds what `run` needs once (an app, say); `close` releases it. */
  open(): Promise<(bytes: Uint8Array) => unknown>;
  close(): Promise<void>;
}

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const file = (...path: string[]): Uint8Array => new Uint8Array(readFileSync(join(FIXTURES, ...path)));
const filesIn = (dir: string, pattern: RegExp, maxBytes: number): Uint8Array[] =>
  readdirSync(join(FIXTURES, dir))
    .filter((name) => pattern.test(name))
    .map((name) => file(dir, name))
    .filter((bytes) => bytes.length <= maxBytes);

const ZIP_CHECKPOINTS = ['small-zip.pth', 'small-deflated.pth', 'small-wrapped.pth', 'malicious-eval.pth', 'malicious-os-system.pth'];
const WEIGHT_FILES = [...ZIP_CHECKPOINTS, 'small-legacy.pth', 'truncated-pkl.pth', 'small.safetensors'];
const IMAGE_NAME = /\.(jpg|png|webp|gif|avif|tiff|bmp)$/;

/** Every `*.pkl` record of the zip checkpoints plus the legacy files, whose first pickle starts at byte 0. */
function pickleSeeds(): Uint8Array[] {
  const seeds: Uint8Array[] = [file('weights', 'small-legacy.pth'), file('weights', 'truncated-pkl.pth')];
  for (const name of ZIP_CHECKPOINTS) {
    const zip = openZip(file('weights', name));
    for (const entry of zip.entries.keys()) if (entry.endsWith('.pkl')) seeds.push(zip.read(entry));
  }
  return seeds;
}

const sync = (
  name: string,
  seeds: () => Uint8Array[],
  dictionary: string[],
  maxLength: number,
  run: (bytes: Uint8Array) => unknown,
): FuzzTarget => ({
  name,
  seeds,
  dictionary,
  maxLength,
  open: async () => run,
  close: async () => {},
});

const PICKLE_TOKENS = [
  '\x80\x02',
  '(',
  '.',
  'K',
  'J',
  'M',
  'X',
  'c',
  'q',
  'r',
  'h',
  'j',
  't',
  'R',
  'Q',
  'u',
  '}',
  ']',
  ')',
  '\x85',
  '\x86',
  '\x87',
  '\x8a',
  '\x8c',
  '\x93',
  '\x94',
  '\x95',
  'ctorch._utils\n_rebuild_tensor_v2\n',
  'ctorch\nFloatStorage\n',
  'ccollections\nOrderedDict\n',
  'ctorch._utils\n_rebuild_parameter\n',
  'storage',
  'cpu',
];
const ZIP_TOKENS = [
  'PK\x03\x04',
  'PK\x01\x02',
  'PK\x05\x06',
  'PK\x06\x06',
  'PK\x06\x07',
  '\x01\x00',
  'archive/data.pkl',
  'archive/byteorder',
  'archive/data/0',
  'little',
];
const SAFETENSORS_TOKENS = [
  '{"',
  '"dtype":"F32"',
  '"dtype":"F16"',
  '"dtype":"BF16"',
  '"dtype":"I64"',
  '"shape":[',
  '"data_offsets":[',
  '__metadata__',
  ']',
  '}',
  ',',
  '1e308',
  '-1',
  '9007199254740993',
];
const IMAGE_TOKENS = [
  '\xff\xd8\xff',
  '\xff\xc0',
  '\xff\xc2',
  '\xff\xda',
  '\xff\xd9',
  '\xff\xe1',
  'Exif\x00\x00',
  '\x89PNG\r\n\x1a\n',
  'IHDR',
  'IDAT',
  'IEND',
  'PLTE',
  'tRNS',
  'RIFF',
  'WEBP',
  'VP8 ',
  'VP8L',
  'VP8X',
  'GIF89a',
  '!\xf9\x04',
  ',',
  'II*\x00',
  'MM\x00*',
  'ftyp',
  'avif',
  'heic',
  'mif1',
  'BM',
];

/** Image bytes for the header and decode: anything up to 1 MP is decoded as well, like an upload would be. */
async function imageHeaderAndDecode(bytes: Uint8Array): Promise<void> {
  const header = await readImageHeader(bytes, 40_000_000);
  if (header.pixels <= 1_000_000) await decodeImage(bytes, header, 40_000_000);
}

/**
 * An HTTP route fed the fuzzer's bytes through `inject()`: the first line is one request header's value, the rest
 * the body. Whatever the bytes, the answer must be 200 or `{error, code}` from the registry with a 4xx status:
 * never a 5xx, never another shape.
 */
function routeTarget(spec: {
  name: string;
  url: string;
  header: string;
  fixedHeaders: Record<string, string>;
  seeds: () => Uint8Array[];
  dictionary: string[];
}): FuzzTarget {
  let app: FastifyInstance | undefined;
  let lastLogged = '';
  return {
    name: spec.name,
    seeds: spec.seeds,
    dictionary: spec.dictionary,
    maxLength: 64 * 1024,
    async open() {
      // The log's last error names the cause of a 500 in the finding.
      const stream = {
        write: (line: string): void => {
          lastLogged = line;
        },
      };
      app = await buildApp({
        loadClassifier: async () => new FakeClassifier(),
        maxUploadBytes: 32 * 1024,
        logger: { level: 'error', stream },
      });
      await app.ready();
      await app.models.start();
      const server = app;
      return async (bytes: Uint8Array) => {
        const newline = bytes.indexOf(0x0a);
        const value = Buffer.from(bytes.subarray(0, Math.max(newline, 0))).toString('latin1');
        const payload = Buffer.from(bytes.subarray(newline + 1));
        const res = await server.inject({
          method: 'POST',
          url: spec.url,
          headers: { ...spec.fixedHeaders, [spec.header]: value },
          payload,
        });
        if (res.statusCode === 200) return;
        let body: { error?: unknown; code?: unknown };
        try {
          body = res.json();
        } catch {
          throw new Error(`status ${res.statusCode} without a JSON body: ${res.body.slice(0, 200)}`);
        }
        if (typeof body.error !== 'string' || typeof body.code !== 'string' || !Object.hasOwn(ERROR_CODES, body.code)) {
          throw new Error(`status ${res.statusCode} outside the error contract: ${res.body.slice(0, 200)}`);
        }
        if (res.statusCode >= 500) {
          const logged = JSON.parse(lastLogged || '{}') as { err?: { type?: string; message?: string; code?: string } };
          throw new Error(
            `status ${res.statusCode} ${body.code} for a client's bytes (${logged.err?.type} ${logged.err?.code}: ${logged.err?.message})`,
          );
        }
      };
    },
    async close() {
      await app?.close();
      app = undefined;
    },
  };
}

const SEED_IMAGES = /^(tiny-150x100\.png|text\.jpg|empty\.jpg|huge-header.*)$/;

/** POST /predict: the first line is the Content-Type (with its boundary), the rest the multipart body. */
const multipartTarget = (): FuzzTarget =>
  routeTarget({
    name: 'multipart',
    url: '/predict',
    header: 'content-type',
    fixedHeaders: {},
    seeds: () =>
      filesIn('images', SEED_IMAGES, 1 << 20).flatMap((image) => {
        const { payload, headers } = multipartBody([{ name: 'file', filename: 'a.png', data: image }]);
        const twoParts = multipartBody([
          { name: 'top', data: '3' },
          { name: 'file', filename: 'b.jpg', contentType: 'image/jpeg', data: image },
        ]);
        return [
          Buffer.concat([Buffer.from(`${headers['content-type']}\n`), payload]),
          Buffer.concat([Buffer.from(`${twoParts.headers['content-type']}\n`), twoParts.payload]),
        ];
      }),
    dictionary: [
      'multipart/form-data; boundary=',
      '\r\n',
      '--',
      'Content-Disposition: form-data; name="file"; filename="a.png"',
      'Content-Type: image/png',
      'name="file"',
      "filename*=UTF-8''",
      ';',
      '"',
      'application/json',
      'boundary="',
    ],
  });

/**
 * The Open Inference Protocol's own example requests, as printed: inference_rest.md's "Inference Request
 * Examples" (kserve/open-inference-protocol), KServe's v2 sample input (samples/…/input.json: FP32 [2, 4],
 * nested), and extension_binary_data.md's binary example (16 + 3 bytes after the JSON). Wrong for this model
 * (names, datatypes, shapes), so they reach every refusal; the mutator turns them into requests that are not.
 */
function oipSpecSeeds(): Uint8Array[] {
  const binary = specBinaryRequest();
  return [
    Buffer.from(`\n${SPEC_JSON_REQUEST}`),
    Buffer.from(`\n${KSERVE_SAMPLE_REQUEST}`),
    Buffer.concat([Buffer.from(`${binary.headerLength}\n`), binary.body]),
  ];
}

/** POST /v2/models/resnet18/infer: the first line is Inference-Header-Content-Length, the rest the body (JSON, then binary tensors). */
const oipInferTarget = (): FuzzTarget =>
  routeTarget({
    name: 'oip-infer',
    url: '/v2/models/resnet18/infer',
    header: 'inference-header-content-length',
    fixedHeaders: { 'content-type': 'application/octet-stream' },
    seeds: () => [
      ...oipSpecSeeds(),
      ...filesIn('images', SEED_IMAGES, 1 << 20).flatMap((image) => {
        const json = JSON.stringify({
          inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: [Buffer.from(image).toString('base64')] }],
        });
        const element = Buffer.concat([Buffer.alloc(4), image]);
        element.writeUInt32LE(image.length, 0);
        const header = JSON.stringify({
          inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: element.length } }],
          outputs: [{ name: 'probabilities', parameters: { classification: 3, binary_data: true } }],
        });
        return [Buffer.from(`\n${json}`), Buffer.concat([Buffer.from(`${header.length}\n${header}`), element])];
      }),
    ],
    dictionary: [
      '{"inputs":[',
      '"name":"image"',
      '"datatype":"BYTES"',
      '"datatype":"FP32"',
      '"shape":[1,3,224,224]',
      '"binary_data_size":',
      '"parameters":{',
      '"outputs":[',
      '"classification":',
      '"binary_data":true',
      '"name":"logits"',
      '"name":"cam"',
      '-1',
      '1e999',
      // The structure bounds of rest/json-bounds.ts, and the shapes of tensor-shape.ts.
      '[[[[[[[[[[[',
      '[],[],[],[]',
      '"shape":[1,1,1,1,1,1,1,1,1]',
      '"shape":[9007199254740993]',
      '"shape":[4294967296,4294967296]',
      '"data":[[[[',
      '\\"',
      '"datatype":"UINT32"',
    ],
  });

/**
 * ModelInferRequest seeds: inference_rest.md's example tensors as typed contents (its BOOL input, [3] with one
 * value, as printed there), and tritonclient's requests for an image (raw BYTES) and for an FP32 tensor.
 */
function modelInferSeeds(): Uint8Array[] {
  const type = new protobuf.Root().loadSync(PROTO_PATH, { keepCase: true }).lookupType('inference.ModelInferRequest');
  const encode = (message: Record<string, unknown>): Uint8Array => type.encode(type.fromObject(message)).finish();
  const images = filesIn('images', SEED_IMAGES, 16 * 1024).map((image) => {
    const element = Buffer.concat([Buffer.alloc(4), image]);
    element.writeUInt32LE(image.length, 0);
    return encode({
      model_name: 'resnet18',
      inputs: [{ name: 'image', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: { int64_param: element.length } } }],
      outputs: [{ name: 'probabilities', parameters: { classification: { int64_param: 3 } } }],
      raw_input_contents: [element],
    });
  });
  return [
    encode({
      id: '42',
      inputs: [
        { name: 'input0', shape: [2, 2], datatype: 'UINT32', contents: { uint_contents: [1, 2, 3, 4] } },
        { name: 'input1', shape: [3], datatype: 'BOOL', contents: { bool_contents: [true] } },
      ],
      outputs: [{ name: 'output0' }],
    }),
    encode({
      model_name: 'resnet18',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 2, 2], contents: { fp32_contents: [0, 1, 2, 3] } }],
    }),
    ...images,
  ];
}

const PROTOBUF_TOKENS = [
  '\x0a\x08resnet18',
  '\x2a',
  '\x1a\x04\x01\x03\xe0\x01',
  '\x12\x04FP32',
  '\x12\x05BYTES',
  '\x32',
  '\x42',
  '\x3a',
  '\xff\xff\xff\xff\x0f',
  '\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01',
];

/**
 * The gRPC service's ModelInfer decoder (wire scan, then protobufjs) and the checks of `planInference`. Besides
 * refusing with a registry code, it must keep the scan's promise: nothing decoded is larger than the limits.
 */
function grpcInferTarget(): FuzzTarget {
  // EfficientNet-B7's side: the largest a served TorchVision model takes.
  const limits = wireLimitsOf(8, 600);
  const inferLimits = { maxImages: 8, maxImageBytes: 10 * 1024 * 1024, classes: 1000, inputSize: 224 };
  return {
    name: 'grpc-infer',
    seeds: modelInferSeeds,
    dictionary: PROTOBUF_TOKENS,
    maxLength: 64 * 1024,
    async open() {
      const method = guardModelInfer(loadService(), limits).ModelInfer;
      if (method === undefined) throw new Error('no ModelInfer in the service');
      return (bytes: Uint8Array) => {
        const request = method.requestDeserialize(Buffer.from(bytes)) as ModelInferRequestMessage | RefusedRequest;
        if (request instanceof RefusedRequest) throw request.error;
        for (const input of request.inputs) {
          if (input.shape.length > MAX_DIMS) throw new Error(`the scan passed a shape of ${input.shape.length} dims`);
          for (const values of Object.values(input.contents ?? {})) {
            if (values.length > limits.maxElements) throw new Error(`the scan passed ${values.length} contents`);
          }
        }
        const wire = wireFromGrpc(request);
        planInference(wire.inputs, wire.outputs, wire.binaryOutput, inferLimits);
      };
    },
    close: async () => {},
  };
}

export const TARGETS: readonly FuzzTarget[] = [
  sync('pickle', pickleSeeds, PICKLE_TOKENS, 16 * 1024, (bytes) => {
    const context = new TorchUnpickleContext(false);
    findTensorMap(unpickle(bytes, context.options).value);
  }),
  sync(
    'zip',
    () => ZIP_CHECKPOINTS.map((name) => file('weights', name)),
    ZIP_TOKENS,
    64 * 1024,
    (bytes) => {
      const zip = openZip(bytes);
      for (const name of zip.entries.keys()) zip.read(name);
    },
  ),
  sync(
    'safetensors',
    () => [file('weights', 'small.safetensors'), file('model', 'tiny-resnet18.safetensors')],
    SAFETENSORS_TOKENS,
    256 * 1024,
    readSafetensors,
  ),
  sync(
    'weights',
    () => WEIGHT_FILES.map((name) => file('weights', name)),
    [...PICKLE_TOKENS, ...ZIP_TOKENS, ...SAFETENSORS_TOKENS],
    64 * 1024,
    readStateDict,
  ),
  sync(
    'image-sniff',
    () => filesIn('images', IMAGE_NAME, 1 << 20).map((b) => b.subarray(0, 4096)),
    IMAGE_TOKENS,
    4096,
    (bytes) => {
      if (detectImageFormat(bytes) === 'gif') gifTransparentColour(bytes);
      sniffImageFormat(bytes);
      gifTransparentColour(bytes);
    },
  ),
  {
    name: 'image-header',
    seeds: () => filesIn('images', IMAGE_NAME, 64 * 1024),
    dictionary: IMAGE_TOKENS,
    maxLength: 64 * 1024,
    open: async () => imageHeaderAndDecode,
    close: async () => {},
  },
  multipartTarget(),
  oipInferTarget(),
  grpcInferTarget(),
];
