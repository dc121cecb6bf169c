//! Sample document images (real PNGs: stored deflate blocks, so no compression crate), large
//! enough for the upload rules of every image purpose and decodable by a browser. For the demo
//! data's real-name reviews and for tests; nothing on a request path uses them.

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn adler32(bytes: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in bytes {
        a = (a + u32::from(x)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend((data.len() as u32).to_be_bytes());
    let mut tagged = kind.to_vec();
    tagged.extend_from_slice(data);
    out.extend_from_slice(&tagged);
    out.extend(crc32(&tagged).to_be_bytes());
}

/// An RGB PNG of `width`×`height` whose pixel (x, y) is `paint(x, y)`.
pub fn image(width: u32, height: u32, paint: impl Fn(u32, u32) -> [u8; 3]) -> Vec<u8> {
    let mut raw = Vec::with_capacity(((width * 3 + 1) * height) as usize);
    for y in 0..height {
        raw.push(0); // filter: none
        for x in 0..width {
            raw.extend(paint(x, y));
        }
    }
    // zlib stream of stored (uncompressed) deflate blocks of at most 65535 bytes.
    let mut z = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        z.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        z.extend(len.to_le_bytes());
        z.extend((!len).to_le_bytes());
        z.extend_from_slice(block);
    }
    z.extend(adler32(&raw).to_be_bytes());
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::new();
    header.extend(width.to_be_bytes());
    header.extend(height.to_be_bytes());
    header.extend([8, 2, 0, 0, 0]); // 8-bit RGB
    chunk(&mut out, b"IHDR", &header);
    chunk(&mut out, b"IDAT", &z);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// A passport data page, roughly: a pale card with a photo box and text lines.
pub fn passport(width: u32, height: u32) -> Vec<u8> {
    image(width, height, |x, y| {
        let photo = x > 30 && x < 200 && y > 90 && y < 330;
        let line = x > 230 && x < width - 40 && (y % 40) < 8 && y > 100 && y < height - 60;
        let mrz =
            y > height - 50 && y < height - 20 && x > 30 && x < width - 30 && (x / 12) % 2 == 0;
        if photo {
            [120, 140, 170]
        } else if line || mrz {
            [60, 60, 70]
        } else if y < 60 {
            [30, 70, 120]
        } else {
            [236, 232, 214]
        }
    })
}

/// A head-and-shoulders portrait, roughly.
pub fn portrait(width: u32, height: u32) -> Vec<u8> {
    let (cx, cy) = (i64::from(width) / 2, i64::from(height) * 2 / 5);
    image(width, height, |x, y| {
        let (dx, dy) = (i64::from(x) - cx, i64::from(y) - cy);
        if dx * dx * 4 + dy * dy * 3 < 9_000 * 3 {
            [224, 186, 150]
        } else if i64::from(y) > cy + 90 && dx.abs() < 130 + (i64::from(y) - cy - 90) / 2 {
            [40, 60, 90]
        } else {
            [210, 225, 240]
        }
    })
}
