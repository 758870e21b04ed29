/**
 * ONNX Runtime (1.30 on Linux) starts a telemetry uploader with its environment: it writes a device id and an
 * event cache under `$HOME/.cache/Microsoft/DeveloperTools/.onnxruntime/` and sends events to Microsoft's
 * collector. This service promises to work offline and to write only its own cache; where `$HOME` is read-only
 * (a container's `--read-only` root) ORT instead prints an ANSI-coloured "Failed to persist telemetry device ID"
 * to stderr, among the JSON logs, and leaves a `:memory:.ses` file in the working directory (both seen here). `ORT_DISABLE_TELEMETRY=1` turns the uploader off before it starts (ORT's posix
 * telemetry.cc); ORT reads it with getenv() when it creates its environment, at the first session.
 *
 * So it is set here, on the thread that creates the session thread and the compiling process: a worker's
 * `process.env` is its own copy, which getenv() never sees, while the process environment reaches both. A value
 * the user set is left as it is.
 */
export function disableOnnxRuntimeTelemetry(): void {
  process.env.ORT_DISABLE_TELEMETRY ??= '1';
}
