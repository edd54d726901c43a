// multipart/related (DICOMweb) and multipart/form-data (MONAI Label) bodies: framing and parsing
// (RFC 2046 / 7578). Small enough to own: the parsers on npm are stream-based form handlers for
// servers (busboy, formidable) that do not read multipart/related answers, and the DICOMweb and
// MONAI Label code needs both directions on whole bodies.
import { concatBytes } from "../bytes.js";

export interface Part {
  /** Header names in lower case. */
  headers: Record<string, string>;
  /** form-data: the Content-Disposition name and filename. */
  name?: string;
  filename?: string;
  body: Uint8Array;
}

export class MultipartError extends Error {
  override name = "MultipartError";
}

function indexOf(hay: Uint8Array, needle: Uint8Array, from: number): number {
  const first = needle[0];
  outer: for (
    let i = hay.indexOf(first!, from);
    i >= 0 && i <= hay.length - needle.length;
    i = hay.indexOf(first!, i + 1)
  ) {
    for (let j = 1; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** The boundary of a multipart Content-Type, or null. */
export function boundaryOf(contentType: string): string | null {
  const m = /boundary="?([^";]+)"?/i.exec(contentType);
  return /^multipart\//i.test(contentType.trim()) && m ? m[1]! : null;
}

/** The parts of a multipart body. */
export function parseMultipart(body: Uint8Array, contentType: string): Part[] {
  const boundary = boundaryOf(contentType);
  if (!boundary) throw new MultipartError(`not a multipart body (Content-Type: ${contentType || "none"})`);
  const enc = new TextEncoder();
  const delimiter = enc.encode(`--${boundary}`);
  const parts: Part[] = [];
  let at = indexOf(body, delimiter, 0);
  if (at < 0) throw new MultipartError("the multipart body has no boundary line");
  while (at >= 0) {
    const start = at + delimiter.length;
    if (body[start] === 0x2d && body[start + 1] === 0x2d) return parts; // closing "--"
    const headerEnd = indexOf(body, enc.encode("\r\n\r\n"), start);
    if (headerEnd < 0) throw new MultipartError("a multipart part has no end of headers (truncated body)");
    const next = indexOf(body, delimiter, headerEnd + 4);
    if (next < 0) throw new MultipartError("a multipart part has no closing boundary (truncated body)");
    const headers: Record<string, string> = {};
    for (const line of new TextDecoder("latin1").decode(body.subarray(start, headerEnd)).split("\r\n")) {
      const c = line.indexOf(":");
      if (c > 0) headers[line.slice(0, c).trim().toLowerCase()] = line.slice(c + 1).trim();
    }
    const disposition = headers["content-disposition"] ?? "";
    const name = /\bname="([^"]*)"/i.exec(disposition)?.[1];
    const filename = /\bfilename="([^"]*)"/i.exec(disposition)?.[1];
    parts.push({ headers, name, filename, body: body.subarray(headerEnd + 4, next - 2) }); // CRLF before the boundary is framing
    at = next;
  }
  throw new MultipartError("the multipart body has no closing boundary");
}

/** A multipart body of the given parts (each with its own headers). */
export function buildMultipart(
  parts: readonly { headers: Record<string, string>; body: Uint8Array }[],
  boundary: string,
): Uint8Array {
  const enc = new TextEncoder();
  const chunks: Uint8Array[] = [];
  for (const p of parts) {
    const head = Object.entries(p.headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join("");
    chunks.push(enc.encode(`--${boundary}\r\n${head}\r\n`), p.body, enc.encode("\r\n"));
  }
  chunks.push(enc.encode(`--${boundary}--\r\n`));
  return concatBytes(chunks);
}
