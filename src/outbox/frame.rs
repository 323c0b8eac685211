//! The on-disk frame of one outbox entry, without I/O.
//!
//! `[magic "KMO1"][len: u32 LE][crc32: u32 LE][payload: len bytes]`, where
//! the CRC-32 (IEEE) covers the four length bytes and the payload. Reading
//! a segment splits it into entries, corrupt regions (quarantined) and at
//! most one torn tail (an entry whose write a crash cut short).

/// The first four bytes of every frame.
pub(crate) const MAGIC: [u8; 4] = *b"KMO1";
/// Magic, length and checksum.
pub(crate) const HEADER_LEN: usize = 12;
/// The longest payload a frame may declare: a request's URI is shorter.
pub(crate) const MAX_PAYLOAD: usize = 1 << 20;

/// Appends the frame of `payload` to `out`. `payload` is at most
/// [`MAX_PAYLOAD`] bytes (a stored request is at most 64 KiB).
pub(crate) fn encode(payload: &[u8], out: &mut Vec<u8>) {
    debug_assert!(payload.len() <= MAX_PAYLOAD);
    // At most MAX_PAYLOAD, so it fits.
    let len = (payload.len() as u32).to_le_bytes();
    out.reserve(HEADER_LEN + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&len);
    out.extend_from_slice(&checksum(len, payload).to_le_bytes());
    out.extend_from_slice(payload);
}

fn checksum(len: [u8; 4], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&len);
    hasher.update(payload);
    hasher.finalize()
}

/// One part of a segment's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    /// A whole frame with a good checksum.
    Entry {
        /// Where the frame starts.
        offset: usize,
        /// Its payload.
        payload: &'a [u8],
    },
    /// Bytes that are not a good frame, followed by a good frame or by the
    /// end of the data.
    Corrupt {
        /// Where the bad bytes start.
        offset: usize,
        /// How many there are.
        len: usize,
    },
    /// The start of a frame cut short by the end of the data: a write that
    /// a crash interrupted.
    TornTail {
        /// Where the frame starts.
        offset: usize,
        /// How many of its bytes were written.
        len: usize,
    },
}

enum At {
    Valid(usize),
    Truncated,
    Invalid,
}

fn frame_at(buf: &[u8], offset: usize) -> At {
    let rest = &buf[offset..];
    if rest.len() < MAGIC.len() {
        return if MAGIC.starts_with(rest) {
            At::Truncated
        } else {
            At::Invalid
        };
    }
    if rest[..4] != MAGIC {
        return At::Invalid;
    }
    if rest.len() < HEADER_LEN {
        return At::Truncated;
    }
    let len_bytes = [rest[4], rest[5], rest[6], rest[7]];
    let len = u32::from_le_bytes(len_bytes) as usize;
    if len > MAX_PAYLOAD {
        return At::Invalid;
    }
    let Some(payload) = rest.get(HEADER_LEN..HEADER_LEN + len) else {
        return At::Truncated;
    };
    let crc = u32::from_le_bytes([rest[8], rest[9], rest[10], rest[11]]);
    if checksum(len_bytes, payload) == crc {
        At::Valid(HEADER_LEN + len)
    } else {
        At::Invalid
    }
}

/// The offset of the first good frame after `offset`, if any.
fn next_valid(buf: &[u8], offset: usize) -> Option<usize> {
    (offset + 1..buf.len().saturating_sub(HEADER_LEN - 1))
        .find(|&p| buf[p..p + 4] == MAGIC && matches!(frame_at(buf, p), At::Valid(_)))
}

/// Splits a segment's bytes into entries, corrupt regions and a torn tail,
/// in order. Every byte belongs to exactly one piece.
pub(crate) fn decode(buf: &[u8]) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut offset = 0;
    while offset < buf.len() {
        match frame_at(buf, offset) {
            At::Valid(n) => {
                pieces.push(Piece::Entry {
                    offset,
                    payload: &buf[offset + HEADER_LEN..offset + n],
                });
                offset += n;
            }
            at => {
                let next = next_valid(buf, offset);
                let end = next.unwrap_or(buf.len());
                let len = end - offset;
                pieces.push(match (at, next) {
                    (At::Truncated, None) => Piece::TornTail { offset, len },
                    _ => Piece::Corrupt { offset, len },
                });
                offset = end;
            }
        }
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frames(payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in payloads {
            encode(p, &mut out);
        }
        out
    }

    fn entries<'a>(pieces: &[Piece<'a>]) -> Vec<&'a [u8]> {
        pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Entry { payload, .. } => Some(*payload),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn round_trip_and_layout() {
        let buf = frames(&[b"/e?_p=a", b"", b"/s?_p=b&x=1"]);
        assert_eq!(&buf[..4], b"KMO1");
        assert_eq!(&buf[4..8], &7_u32.to_le_bytes());
        let pieces = decode(&buf);
        assert_eq!(entries(&pieces), [&b"/e?_p=a"[..], b"", b"/s?_p=b&x=1"]);
        assert_eq!(pieces.len(), 3);
        assert!(decode(&[]).is_empty());
    }

    #[test]
    fn torn_tail_keeps_what_came_before() {
        let whole = frames(&[b"/e?_p=a", b"/e?_p=b"]);
        let first = frames(&[b"/e?_p=a"]).len();
        for cut in first + 1..whole.len() {
            let pieces = decode(&whole[..cut]);
            assert_eq!(entries(&pieces), [&b"/e?_p=a"[..]], "cut at {cut}");
            assert_eq!(
                pieces.last(),
                Some(&Piece::TornTail {
                    offset: first,
                    len: cut - first
                })
            );
        }
    }

    #[test]
    fn corruption_is_isolated() {
        let mut buf = frames(&[b"/e?_p=a", b"/e?_p=b", b"/e?_p=c"]);
        let second = HEADER_LEN + 7;
        buf[second + HEADER_LEN + 2] ^= 0x20; // a payload byte of the second
        let pieces = decode(&buf);
        assert_eq!(entries(&pieces), [&b"/e?_p=a"[..], b"/e?_p=c"]);
        assert_eq!(
            pieces[1],
            Piece::Corrupt {
                offset: second,
                len: HEADER_LEN + 7
            }
        );
        // A corrupt last frame is corrupt, not torn: its length is whole.
        let mut buf = frames(&[b"/e?_p=a", b"/e?_p=b"]);
        let n = buf.len();
        buf[n - 1] ^= 1;
        let pieces = decode(&buf);
        assert_eq!(
            pieces[1],
            Piece::Corrupt {
                offset: second,
                len: HEADER_LEN + 7
            }
        );
        // Garbage before good frames.
        let mut buf = b"garbage".to_vec();
        buf.extend(frames(&[b"/e?_p=a"]));
        let pieces = decode(&buf);
        assert_eq!(pieces[0], Piece::Corrupt { offset: 0, len: 7 });
        assert_eq!(entries(&pieces), [&b"/e?_p=a"[..]]);
    }

    proptest! {
        /// Cutting the data anywhere never loses a whole frame before the cut.
        #[test]
        fn any_cut(payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..6), cut: prop::sample::Index) {
            let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
            let buf = frames(&refs);
            let cut = cut.index(buf.len() + 1);
            let mut ends = Vec::new();
            let mut end = 0;
            for p in &payloads {
                end += HEADER_LEN + p.len();
                ends.push(end);
            }
            let whole = ends.iter().filter(|&&e| e <= cut).count();
            let pieces = decode(&buf[..cut]);
            prop_assert_eq!(entries(&pieces), refs[..whole].to_vec());
            let clean = pieces.iter().all(|p| !matches!(p, Piece::Corrupt { .. }));
            prop_assert!(clean, "no corrupt piece");
        }

        /// Flipping one byte loses at most the frame it hit, and says so.
        #[test]
        fn any_flip(payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..6), at: prop::sample::Index, bit in 0_u8..8) {
            let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
            let mut buf = frames(&refs);
            let at = at.index(buf.len());
            buf[at] ^= 1 << bit;
            let pieces = decode(&buf);
            let got = entries(&pieces);
            prop_assert!(got.len() + 1 >= refs.len());
            let flagged = pieces.iter().any(|p| !matches!(p, Piece::Entry { .. }));
            prop_assert!(flagged, "the damage is reported");
            // Every byte is accounted for, in order.
            let mut offset = 0;
            for p in &pieces {
                let (o, n) = match *p {
                    Piece::Entry { offset, payload } => (offset, HEADER_LEN + payload.len()),
                    Piece::Corrupt { offset, len } | Piece::TornTail { offset, len } => (offset, len),
                };
                prop_assert_eq!(o, offset);
                offset += n;
            }
            prop_assert_eq!(offset, buf.len());
        }
    }
}
