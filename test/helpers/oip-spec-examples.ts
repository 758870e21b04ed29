/**
 * The Open Inference Protocol's own example requests, as printed in its specs: for the tests of the REST
 * binding and as seeds of the fuzzer (test/fuzz/targets.ts).
 */

/** The request of inference_rest.md's "Inference Request Examples", as printed there. */
export const SPEC_JSON_REQUEST = `{
  "id" : "42",
  "inputs" : [
    { "name" : "input0", "shape" : [ 2, 2 ], "datatype" : "UINT32", "data" : [ 1, 2, 3, 4 ] },
    { "name" : "input1", "shape" : [ 3 ], "datatype" : "BOOL", "data" : [ true ] }
  ],
  "outputs" : [ { "name" : "output0" } ]
}`;

/** The request of extension_binary_data.md's example: 16 bytes for input0, 3 for input1. */
export function specBinaryRequest(): { body: Buffer; headerLength: string } {
  const json = Buffer.from(`{
  "model_name" : "mymodel",
  "inputs" : [
    { "name" : "input0", "shape" : [ 2, 2 ], "datatype" : "UINT32", "parameters" : { "binary_data_size" : 16 } },
    { "name" : "input1", "shape" : [ 3 ], "datatype" : "BOOL", "parameters" : { "binary_data_size" : 3 } }
  ],
  "outputs" : [ { "name" : "output0", "parameters" : { "binary_data" : true } } ]
}`);
  const input0 = Buffer.alloc(16);
  for (const [i, v] of [1, 2, 3, 4].entries()) input0.writeUInt32LE(v, i * 4);
  const input1 = Buffer.from([1, 0, 1]);
  return { body: Buffer.concat([json, input0, input1]), headerLength: String(json.length) };
}

/** KServe's v2 sample input (kserve samples, input.json): FP32 [2, 4], nested. */
export const KSERVE_SAMPLE_REQUEST = `{
  "inputs": [
    {
      "name": "input-0",
      "shape": [2, 4],
      "datatype": "FP32",
      "data": [
        [6.8, 2.8, 4.8, 1.4],
        [6.0, 3.4, 4.5, 1.6]
      ]
    }
  ]
}`;
