/**
 * Protobuf wire format written by hand (protobuf.dev/programming-guides/encoding), for requests no
 * well-behaved encoder would build: a packed field tens of megabytes long, an int64 dim of -1, a field
 * repeated past every limit. Small on purpose: varints, tags and length-delimited fields.
 */
import { Client, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';

enum WireType {
  Varint = 0,
  Fixed64 = 1,
  Delimited = 2,
  Fixed32 = 5,
}

export function varint(value: number | bigint): Buffer {
  // int64 negatives are ten-byte two's complement varints.
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  do {
    const byte = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v === 0n ? byte : byte | 0x80);
  } while (v !== 0n);
  return Buffer.from(out);
}

const tag = (field: number, type: WireType): Buffer => varint((field << 3) | type);

/** A length-delimited field: a string, bytes, a sub-message or a packed repeated field. */
export function delimited(field: number, payload: Buffer | string): Buffer {
  const bytes = typeof payload === 'string' ? Buffer.from(payload) : payload;
  return Buffer.concat([tag(field, WireType.Delimited), varint(bytes.length), bytes]);
}

export function varintField(field: number, value: number | bigint): Buffer {
  return Buffer.concat([tag(field, WireType.Varint), varint(value)]);
}

export const packedVarints = (field: number, values: readonly (number | bigint)[]): Buffer =>
  delimited(field, Buffer.concat(values.map(varint)));

export function packedFloats(field: number, values: ArrayLike<number>): Buffer {
  const bytes = Buffer.alloc(values.length * 4);
  for (let i = 0; i < values.length; i++) bytes.writeFloatLE(values[i] ?? 0, i * 4);
  return delimited(field, bytes);
}

/** ModelInferRequest's fields (proto/open_inference_grpc.proto). */
export const REQUEST = { modelName: 1, modelVersion: 2, id: 3, parameters: 4, inputs: 5, outputs: 6, rawInputContents: 7 } as const;
export const INPUT = { name: 1, datatype: 2, shape: 3, parameters: 4, contents: 5 } as const;
export const CONTENTS = { fp32: 6, bytes: 8 } as const;

/** One InferInputTensor's bytes: name, datatype, packed shape and whatever fields follow. */
export function inputTensor(name: string, datatype: string, shape: readonly (number | bigint)[], ...rest: Buffer[]): Buffer {
  return Buffer.concat([delimited(INPUT.name, name), delimited(INPUT.datatype, datatype), packedVarints(INPUT.shape, shape), ...rest]);
}

export interface RawGrpcClient {
  /** Sends `bytes` as the ModelInferRequest, untouched; resolves with the response bytes or rejects with the ServiceError. */
  modelInfer(bytes: Buffer, deadlineMs?: number): Promise<Buffer>;
  close(): void;
}

/** A client that sends bytes as they are: no encoder between the test and the server's decoder. */
export function rawGrpcClient(port: number): RawGrpcClient {
  const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure(), {
    'grpc.max_send_message_length': -1,
    'grpc.max_receive_message_length': -1,
  });
  const identity = (bytes: Buffer): Buffer => bytes;
  return {
    modelInfer: (bytes, deadlineMs = 60_000) =>
      new Promise((resolve, reject) => {
        client.makeUnaryRequest(
          '/inference.GRPCInferenceService/ModelInfer',
          identity,
          identity,
          bytes,
          new Metadata(),
          { deadline: Date.now() + deadlineMs },
          (error: ServiceError | null, response?: Buffer) => (error ? reject(error) : resolve(response as Buffer)),
        );
      }),
    close: () => client.close(),
  };
}
