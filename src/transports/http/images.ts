/**
 * Pictures the REST API serves: QR codes (PNG or SVG of the raw QR bytes, drawn by
 * src/web/qr-image.ts) and the server's visual hash (a deterministic PNG of its id and public key
 * that a person compares by eye).
 */
import { createHash } from 'node:crypto';
import { crc32, deflateSync } from 'node:zlib';
import type { FastifyReply } from 'fastify';
import { qrImage, type ImageKind } from '../../web/qr-image.ts';

/** Answers a QR code: its raw bytes, or (`img`) a PNG or SVG `s` pixels wide; never cached. */
export async function sendQr(reply: FastifyReply, bytes: Uint8Array, query: { img?: ImageKind | undefined; s?: number | undefined }) {
  reply.header('cache-control', 'no-store');
  if (!query.img) return reply.type('application/octet-stream').send(Buffer.from(bytes));
  const image = await qrImage(bytes, query.img, query.s ?? 500);
  return reply.type(image.type).send(image.body);
}

/**
 * The visual hash: SHA-512 of serverid || serverpk drawn as a mirrored 8×8 grid in two colours
 * from the hash, on a light background, 256×256. Same input, same picture, byte for byte.
 */
export function vashPng(serverid: Uint8Array, serverpk: Uint8Array): Buffer {
  const h = createHash('sha512').update(serverid).update(serverpk).digest();
  const cells = 8;
  const cell = 28;
  const margin = 16;
  const size = cells * cell + margin * 2;
  const colour = (i: number): [number, number, number] => hsl((h[i]! / 255) * 360, 0.55 + (h[i + 1]! / 255) * 0.3, 0.35 + (h[i + 2]! / 255) * 0.2);
  const fg = [colour(0), colour(3)];
  const rows: Buffer[] = [];
  for (let y = 0; y < size; y++) {
    const row = Buffer.alloc(1 + size * 3);
    for (let x = 0; x < size; x++) {
      let rgb: [number, number, number] = [244, 244, 240];
      const cx = Math.floor((x - margin) / cell);
      const cy = Math.floor((y - margin) / cell);
      if (cx >= 0 && cy >= 0 && cx < cells && cy < cells) {
        const mx = cx < cells / 2 ? cx : cells - 1 - cx; // mirrored, like a face
        const bit = 8 + cy * (cells / 2) + mx;
        const v = h[bit % h.length]!;
        if (v & 1) rgb = fg[(v >> 1) & 1]!;
      }
      row.set(rgb, 1 + x * 3);
    }
    rows.push(row);
  }
  return png(size, size, Buffer.concat(rows));
}

function hsl(hue: number, s: number, l: number): [number, number, number] {
  const c = (1 - Math.abs(2 * l - 1)) * s;
  const x = c * (1 - Math.abs(((hue / 60) % 2) - 1));
  const m = l - c / 2;
  const [r, g, b] = hue < 60 ? [c, x, 0] : hue < 120 ? [x, c, 0] : hue < 180 ? [0, c, x] : hue < 240 ? [0, x, c] : hue < 300 ? [x, 0, c] : [c, 0, x];
  return [Math.round((r + m) * 255), Math.round((g + m) * 255), Math.round((b + m) * 255)];
}

/** A minimal PNG (8-bit RGB, rows already prefixed with filter byte 0). */
function png(width: number, height: number, rows: Buffer): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(rows, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
