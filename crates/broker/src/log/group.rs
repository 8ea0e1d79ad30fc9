//! The bytes of one group commit, and their write.
//!
//! A batch whose base offset the writer assigns must reach the file with that offset in
//! its first 8 bytes (outside its CRC, which covers only what follows the CRC field).
//! Small batches are copied whole into one buffer and patched there: one write of many
//! small batches costs less than an iovec each. A large batch is not copied: its first
//! 8 bytes go to the buffer, patched, and the rest is written from the `Bytes` the produce
//! path received, with one `pwritev` for the whole group. For 10 KiB records that copy was
//! a pass over every byte produced, beside the kernel's own into the page cache.

use std::fs::File;
use std::io::{self, IoSlice};
use std::ops::Range;

use bytes::Bytes;

/// A batch at least this large is written from where it was received, not copied.
pub(super) const SHARED_BATCH_BYTES: usize = 16 * 1024;

/// Bytes of the base offset at the start of a batch.
const BASE_OFFSET_BYTES: usize = 8;

/// Most iovecs one `pwritev` takes on Linux (`IOV_MAX`).
const MAX_IOVECS: usize = 1024;

/// The bytes of one group, in file order.
#[derive(Debug, Default)]
pub(super) struct GroupBytes {
    /// Copied bytes: small batches, and large batches' base offsets.
    buf: Vec<u8>,
    pieces: Vec<Piece>,
    len: usize,
}

#[derive(Debug)]
enum Piece {
    Copied(Range<usize>),
    Shared(Bytes),
}

impl GroupBytes {
    /// An empty group that reuses `buf`'s allocation.
    pub(super) fn with_buffer(mut buf: Vec<u8>) -> GroupBytes {
        buf.clear();
        GroupBytes { buf, pieces: Vec::new(), len: 0 }
    }

    /// Bytes in the group.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds `batch` (whole batch bytes, at least the base offset long) under `base_offset`.
    pub(super) fn push(&mut self, batch: &Bytes, base_offset: i64) {
        let Some(rest) = batch.get(BASE_OFFSET_BYTES..) else { return };
        self.copy(&base_offset.to_be_bytes());
        if batch.len() >= SHARED_BATCH_BYTES {
            self.pieces.push(Piece::Shared(batch.slice(BASE_OFFSET_BYTES..)));
            self.len += rest.len();
        } else {
            self.copy(rest);
        }
    }

    fn copy(&mut self, bytes: &[u8]) {
        let start = self.buf.len();
        self.buf.extend_from_slice(bytes);
        match self.pieces.last_mut() {
            Some(Piece::Copied(range)) if range.end == start => range.end = self.buf.len(),
            _ => self.pieces.push(Piece::Copied(start..self.buf.len())),
        }
        self.len += bytes.len();
    }

    /// The buffer, for the next group, when nothing is to be written.
    pub(super) fn write_buffer(self) -> Vec<u8> {
        self.buf
    }

    /// Writes the group at `position` of `file` (retrying short writes), and gives back the buffer.
    pub(super) fn write_at(self, file: &File, position: u64) -> io::Result<Vec<u8>> {
        let GroupBytes { buf, pieces, .. } = self;
        let mut slices: Vec<IoSlice<'_>> = pieces
            .iter()
            .map(|p| match p {
                Piece::Copied(range) => IoSlice::new(&buf[range.clone()]),
                Piece::Shared(bytes) => IoSlice::new(bytes),
            })
            .collect();
        let mut slices = &mut slices[..];
        let mut position = position;
        while !slices.is_empty() {
            let take = slices.len().min(MAX_IOVECS);
            match rustix::io::pwritev(file, &slices[..take], position) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "pwritev wrote nothing")),
                Ok(n) => {
                    position += n as u64;
                    IoSlice::advance_slices(&mut slices, n);
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        drop(pieces);
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    /// A batch-like byte string of `len` bytes whose first 8 are a placeholder offset.
    fn batch(len: usize, fill: u8) -> Bytes {
        let mut b = vec![fill; len];
        b[..8].copy_from_slice(&(-1i64).to_be_bytes());
        Bytes::from(b)
    }

    /// A fresh file `seg` in a directory of its own, which the caller removes.
    fn segment(name: &str) -> (std::path::PathBuf, File) {
        let dir = std::env::temp_dir().join(format!("runnel-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(dir.join("seg"))
            .unwrap();
        (dir, file)
    }

    #[test]
    fn small_and_large_batches_land_in_order_with_their_offsets() {
        let (dir, file) = segment("group");
        let path = dir.join("seg");
        file.write_all_at(b"head", 0).unwrap();

        let batches =
            [batch(100, 1), batch(SHARED_BATCH_BYTES, 2), batch(50, 3), batch(3 * SHARED_BATCH_BYTES, 4)];
        let mut group = GroupBytes::with_buffer(vec![9; 10]);
        let mut expected = b"head".to_vec();
        for (i, b) in batches.iter().enumerate() {
            group.push(b, 1000 + i as i64);
            expected.extend((1000 + i as i64).to_be_bytes());
            expected.extend(&b[8..]);
        }
        assert_eq!(group.len(), expected.len() - 4);
        group.write_at(&file, 4).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), expected);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn more_pieces_than_one_pwritev_takes() {
        let (dir, file) = segment("group-many");
        let path = dir.join("seg");
        let mut group = GroupBytes::default();
        let mut expected = Vec::new();
        // Each large batch is two pieces (its offset, then its bytes).
        for i in 0..(MAX_IOVECS as i64) {
            let b = batch(SHARED_BATCH_BYTES, i as u8);
            group.push(&b, i);
            expected.extend(i.to_be_bytes());
            expected.extend(&b[8..]);
        }
        group.write_at(&file, 0).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), expected);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
