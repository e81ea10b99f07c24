//! An authenticator app, written out from RFC 6238 and RFC 4226 independently of the
//! server's code: the six-digit code of a base32 key at a moment.

use hmac::{Hmac, Mac};

/// RFC 4648 base32, upper case, padding optional (what authenticator apps take).
fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut buffer, mut out) = (0u32, 0u64, Vec::new());
    for c in text.trim_end_matches('=').bytes() {
        let value = ALPHABET
            .iter()
            .position(|&a| a == c.to_ascii_uppercase())
            .expect("a base32 character") as u64;
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

/// The code an app shows for `secret` (base32) at Unix time `at` (30-second steps,
/// HMAC-SHA-1, dynamic truncation, six digits).
pub fn code_at(secret: &str, at: chrono::DateTime<chrono::Utc>) -> String {
    let counter = (at.timestamp() / 30) as u64;
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(&base32_decode(secret)).unwrap();
    mac.update(&counter.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let offset = (hash[19] & 0x0f) as usize;
    let binary = u32::from_be_bytes(hash[offset..offset + 4].try_into().unwrap()) & 0x7fff_ffff;
    format!("{:06}", binary % 1_000_000)
}
