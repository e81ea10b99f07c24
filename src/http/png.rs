//! Checks that bytes really are a PNG: signature, an IHDR first, intact chunk CRCs, IEND last.

const SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

pub fn check(bytes: &[u8]) -> Result<(), String> {
    let rest = bytes
        .strip_prefix(SIGNATURE)
        .ok_or("is not a PNG image (wrong signature)")?;
    let mut offset = 0;
    let mut first = true;
    loop {
        let header = rest.get(offset..offset + 8).ok_or("is a truncated PNG")?;
        let length = u32::from_be_bytes(header[..4].try_into().expect("4 bytes")) as usize;
        let kind = &header[4..8];
        let data_end = offset + 8 + length;
        let chunk = rest.get(offset + 4..data_end).ok_or("is a truncated PNG")?;
        let crc = rest
            .get(data_end..data_end + 4)
            .ok_or("is a truncated PNG")?;
        if crc32fast::hash(chunk).to_be_bytes() != crc {
            return Err("is a damaged PNG (chunk checksum mismatch)".into());
        }
        if first {
            if kind != b"IHDR" || length != 13 {
                return Err("is not a valid PNG (no IHDR header chunk)".into());
            }
            let width = u32::from_be_bytes(chunk[4..8].try_into().expect("4 bytes"));
            let height = u32::from_be_bytes(chunk[8..12].try_into().expect("4 bytes"));
            if width == 0 || height == 0 {
                return Err("is a PNG with no pixels".into());
            }
            first = false;
        }
        offset = data_end + 4;
        if kind == b"IEND" {
            return if offset == rest.len() {
                Ok(())
            } else {
                Err("has data after the end of the PNG".into())
            };
        }
    }
}

/// A valid 1×1 PNG, for tests and examples.
pub fn tiny_png() -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
    }
    let mut png = SIGNATURE.to_vec();
    chunk(&mut png, b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]);
    // zlib stream of one filter byte and one grey pixel.
    chunk(
        &mut png,
        b"IDAT",
        &[0x78, 0x9c, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01],
    );
    chunk(&mut png, b"IEND", &[]);
    png
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_real_png_and_rejects_impostors() {
        let png = tiny_png();
        assert_eq!(check(&png), Ok(()));
        assert!(check(b"GIF89a....").is_err());
        assert!(check(&png[..png.len() - 3]).is_err());
        let mut damaged = png.clone();
        damaged[20] ^= 0xff;
        assert!(check(&damaged).is_err());
        let mut trailing = png.clone();
        trailing.push(0);
        assert!(check(&trailing).is_err());
        assert!(check(SIGNATURE).is_err());
    }
}
