import { credentials, loadPackageDefinition, Metadata, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { PROTO_LOADER_OPTIONS } from '../../src/server/protocols/oip/grpc/messages.js';
import { PROTO_PATH } from '../../src/server/protocols/oip/grpc/server.js';

type Unary = (
  request: Record<string, unknown>,
  metadata: Metadata,
  callback: (error: ServiceError | null, response: unknown) => void,
) => void;

export interface GrpcClient {
  /** Calls `method` and resolves with its response, or rejects with the ServiceError (code, details, metadata). */
  call<T = Record<string, unknown>>(method: string, request?: Record<string, unknown>, metadata?: Record<string, string>): Promise<T>;
  close(): void;
}

/** A grpc-js client of inference.GRPCInferenceService, built from the same .proto as the server. */
export function grpcClient(port: number): GrpcClient {
  const loaded = loadPackageDefinition(loadSync(PROTO_PATH, PROTO_LOADER_OPTIONS)) as unknown as {
    inference: {
      GRPCInferenceService: new (
        address: string,
        creds: ReturnType<typeof credentials.createInsecure>,
        options: Record<string, number>,
      ) => Record<string, Unary> & { close(): void };
    };
  };
  const client = new loaded.inference.GRPCInferenceService(`127.0.0.1:${port}`, credentials.createInsecure(), {
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
    'grpc.max_send_message_length': 64 * 1024 * 1024,
  });
  return {
    call<T>(method: string, request: Record<string, unknown> = {}, metadata: Record<string, string> = {}): Promise<T> {
      return new Promise((resolve, reject) => {
        const rpc = client[method];
        if (rpc === undefined) throw new Error(`no method ${method}`);
        const sent = new Metadata();
        for (const [key, value] of Object.entries(metadata)) sent.set(key, value);
        rpc.call(client, request, sent, (error, response) => (error ? reject(error) : resolve(response as T)));
      });
    },
    close: () => client.close(),
  };
}

/** The registry code a failed call carries in its trailer. */
export function codeOf(error: unknown): string | undefined {
  const metadata = (error as { metadata?: Metadata }).metadata;
  return metadata?.get('resnet-serve-code')[0]?.toString();
}
