import { ResnetServeError } from '../../errors.js';

/**
 * The one version of the one model: the Open Inference Protocol lets a server without versioning ignore them,
 * but clients may name it.
 */
export const MODEL_VERSION = '1';

/**
 * Checks that a request names the model this server serves (and, if it names one, its version), as every
 * protocol's model routes do.
 *
 * @param served - The model name setting (`--model-name`).
 * @throws ResnetServeError MODEL_NOT_FOUND for another model or version.
 */
export function checkModel(served: string, name: string, version: string | undefined): void {
  if (name !== served) {
    throw new ResnetServeError('MODEL_NOT_FOUND', { model: name, served }, { details: { model: name } });
  }
  if (version !== undefined && version !== '' && version !== MODEL_VERSION) {
    throw new ResnetServeError(
      'MODEL_NOT_FOUND',
      { model: name, version, servedVersion: MODEL_VERSION },
      { details: { model: name, version } },
    );
  }
}
