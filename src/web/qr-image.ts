/**
 * QR codes as pictures: a PNG or an SVG of the raw QR bytes (PROTOCOL.md §3). The blocks inline
 * the SVG (src/web/blocks.ts); the REST API answers either (src/transports/http/images.ts).
 */
import QRCode from 'qrcode';

export type ImageKind = 'png' | 'svg';

export async function qrImage(bytes: Uint8Array, kind: ImageKind, size: number): Promise<{ body: Buffer | string; type: string }> {
  const segments = [{ data: Buffer.from(bytes), mode: 'byte' as const }];
  if (kind === 'svg') return { body: await QRCode.toString(segments, { type: 'svg', errorCorrectionLevel: 'M', margin: 2, width: size }), type: 'image/svg+xml' };
  return { body: await QRCode.toBuffer(segments, { type: 'png', errorCorrectionLevel: 'M', margin: 2, width: size }), type: 'image/png' };
}
