//! The Confluent wire format of a record value: the magic byte `0`, the
//! writer schema's global id (4 bytes, big-endian), then the Avro binary body.

/// Length of the header before the Avro body.
pub const HEADER_LEN: usize = 5;

/// Appends the header for schema `id` to `buf`.
pub fn write_header(buf: &mut Vec<u8>, id: u32) {
    buf.push(0);
    buf.extend_from_slice(&id.to_be_bytes());
}

/// Splits a framed value into its schema id and Avro body; `None` when the
/// value is too short or its magic byte is not `0`.
///
/// ```
/// let framed = [0u8, 0, 0, 0, 7, 42];
/// assert_eq!(runnel_client::framing::split(&framed), Some((7, &[42u8][..])));
/// assert_eq!(runnel_client::framing::split(&[1, 0, 0, 0, 7]), None);
/// ```
pub fn split(value: &[u8]) -> Option<(u32, &[u8])> {
    if value.len() < HEADER_LEN || value[0] != 0 {
        return None;
    }
    let id = u32::from_be_bytes([value[1], value[2], value[3], value[4]]);
    Some((id, &value[HEADER_LEN..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_through_split() {
        let mut buf = Vec::new();
        write_header(&mut buf, 0x0102_0304);
        buf.extend_from_slice(b"body");
        assert_eq!(&buf[..5], &[0, 1, 2, 3, 4]);
        assert_eq!(split(&buf), Some((0x0102_0304, &b"body"[..])));
    }

    #[test]
    fn short_values_are_not_framed() {
        assert_eq!(split(&[0, 0, 0]), None);
        assert_eq!(split(&[]), None);
    }
}
