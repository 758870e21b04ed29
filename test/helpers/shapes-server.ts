import { createClassifier } from '../../src/classifier/index.js';
import { convertToOnnx } from '../../src/model/architectures/resnet.js';
import { type ServerHandle, startServer } from '../../src/server/start.js';
import { loadShapesStateDict } from './int8-fixture.js';

/**
 * A server on 127.0.0.1 (a free port) running the trained shapes fixture, whose maps mean something (a circle is
 * found where it is), for the page's "Show where it looked" tests; with `onDevice`, also offered to the page.
 */
export async function startShapesServer(options: { onDevice?: boolean } = {}): Promise<ServerHandle> {
  const model = convertToOnnx(loadShapesStateDict());
  const server = await startServer({
    host: '127.0.0.1',
    port: 0,
    logger: false,
    loadClassifier: ({ observer }) => createClassifier({ model, threads: 2, observer }),
    ...(options.onDevice === true ? { onDevice: { model } } : {}),
  });
  await server.ready;
  return server;
}
