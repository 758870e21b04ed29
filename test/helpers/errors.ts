import { isResnetServeError, type ResnetServeError } from '../../src/errors.js';

/** The ResnetServeError `run` throws; anything else thrown, or nothing, fails the test. */
export function thrownError(run: () => unknown): ResnetServeError {
  try {
    run();
  } catch (error) {
    if (isResnetServeError(error)) return error;
    throw error;
  }
  throw new Error('expected a ResnetServeError');
}

/** The ResnetServeError `run` rejects with; any other rejection, or none, fails the test. */
export async function rejectedError(run: () => Promise<unknown>): Promise<ResnetServeError> {
  try {
    await run();
  } catch (error) {
    if (isResnetServeError(error)) return error;
    throw error;
  }
  throw new Error('expected a ResnetServeError');
}

/** `"<CODE>: <message>"` of what `run` throws, for assertions on both at once. */
export function failure(run: () => unknown): string {
  const error = thrownError(run);
  return `${error.code}: ${error.message}`;
}
