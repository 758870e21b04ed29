import { ResnetServeError } from '../../errors.js';
import type { ModelContract } from '../../model/contract.js';

/** The model a server answers for, as every protocol's model routes check requests against it. */
export interface ServedModel {
  /** The name clients use (`--model-name`; by default the architecture, or the `.onnx` file's stem). */
  readonly name: string;
  /** The model's contract once known (given to the app, or read from the loaded classifier). */
  readonly contract: ModelContract | undefined;
}

/** The model `slot` serves under `name`: its contract is read from the slot at each check. */
export function servedModel(name: string, slot: { readonly model: ModelContract | undefined }): ServedModel {
  return {
    name,
    get contract() {
      return slot.model;
    },
  };
}

/**
 * Checks that a request names the model this server serves (and, if it names one, its version: the weights' hash
 * prefix, the contract's `version`), as every protocol's model routes do. Before the contract is known any version
 * passes the check, and the request then meets NOT_READY.
 *
 * @throws ResnetServeError MODEL_NOT_FOUND for another model or version.
 */
export function checkModel(served: ServedModel, name: string, version: string | undefined): void {
  if (name !== served.name) {
    throw new ResnetServeError('MODEL_NOT_FOUND', { model: name, served: served.name }, { details: { model: name } });
  }
  const servedVersion = served.contract?.version;
  if (version !== undefined && version !== '' && servedVersion !== undefined && version !== servedVersion) {
    throw new ResnetServeError('MODEL_NOT_FOUND', { model: name, version, servedVersion }, { details: { model: name, version } });
  }
}
