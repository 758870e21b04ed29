import { Metadata, ServerInterceptingCall, type ServerInterceptor, status } from '@grpc/grpc-js';
import { ResnetServeError } from '../../../../errors.js';

export interface CallLimits {
  /** The one method limited; health and metadata calls always answer, as /healthz does over HTTP. */
  readonly path: string;
  /** Calls of `path` in progress at once, across connections. */
  readonly maxCalls: number;
  /** Longest wait for a call's request message after its headers (a client trickling 80 MB, say). */
  readonly receiveTimeoutMs: number;
  /** Told of each refusal, with the HTTP status of its registry code, for the metrics. */
  readonly refused: (httpStatus: number) => void;
}

/**
 * A grpc-js server interceptor that bounds ModelInfer: past `maxCalls` in progress, a call is refused at its
 * headers with RESOURCE_EXHAUSTED (`QUEUE_FULL` in the `resnet-serve-code` trailer) before its message is read;
 * a call whose message has not arrived within `receiveTimeoutMs` ends DEADLINE_EXCEEDED (`REQUEST_TIMEOUT`). A
 * call counts from its headers until grpc-js reports it over (`onCancel`): once its trailers are queued, which
 * HTTP/2 flow control holds back while the client does not read the response, or when its stream closes. So
 * calls whose answers are never read stay counted, and `maxCalls` bounds them too; the connection age of
 * the service closes them in the end.
 */
export function callLimits(limits: CallLimits): ServerInterceptor {
  let inProgress = 0;
  return (method, call) => {
    if (method.path !== limits.path) return new ServerInterceptingCall(call);
    let counted = false;
    let timer: NodeJS.Timeout | undefined;
    const release = (): void => {
      clearTimeout(timer);
      if (counted) inProgress -= 1;
      counted = false;
    };
    const refuse = (grpcStatus: status, error: ResnetServeError): void => {
      release();
      limits.refused(error.statusCode);
      const trailer = new Metadata();
      trailer.set('resnet-serve-code', error.code);
      call.sendStatus({ code: grpcStatus, details: error.message, metadata: trailer });
    };
    return new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, nextMetadata) {
            if (inProgress >= limits.maxCalls) {
              refuse(status.RESOURCE_EXHAUSTED, new ResnetServeError('QUEUE_FULL', { maxQueue: limits.maxCalls }));
              return;
            }
            inProgress += 1;
            counted = true;
            timer = setTimeout(() => refuse(status.DEADLINE_EXCEEDED, new ResnetServeError('REQUEST_TIMEOUT')), limits.receiveTimeoutMs);
            timer.unref();
            nextMetadata(metadata);
          },
          onReceiveMessage(message, nextMessage) {
            clearTimeout(timer);
            nextMessage(message);
          },
          onCancel: release,
        });
      },
      sendStatus(sent, next) {
        clearTimeout(timer);
        next(sent);
      },
    });
  };
}
