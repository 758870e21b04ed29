import { randomBytes } from 'node:crypto';

export interface MultipartPart {
  name: string;
  /** Present for a file part (may be ''); absent for a plain field. */
  filename?: string;
  contentType?: string;
  data: Uint8Array | string;
}

/** Builds a multipart/form-data body by hand, so tests control every byte (empty file names, odd fields). */
export function multipartBody(parts: MultipartPart[]): { payload: Buffer; headers: Record<string, string> } {
  const boundary = `----resnet-serve-${randomBytes(8).toString('hex')}`;
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const disposition =
      part.filename === undefined ? `form-data; name="${part.name}"` : `form-data; name="${part.name}"; filename="${part.filename}"`;
    const type = part.contentType ?? (part.filename === undefined ? undefined : 'application/octet-stream');
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\n${type ? `Content-Type: ${type}\r\n` : ''}\r\n`));
    chunks.push(typeof part.data === 'string' ? Buffer.from(part.data) : Buffer.from(part.data));
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  const payload = Buffer.concat(chunks);
  return {
    payload,
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(payload.length) },
  };
}

/** The usual upload: one part named `file`. */
export function fileUpload(data: Uint8Array | string, filename = 'image.bin'): ReturnType<typeof multipartBody> {
  return multipartBody([{ name: 'file', filename, data }]);
}
