//! Bytes kept in a database in parts (a course package's files, an attachment's raw data):
//! read from a reader one part at a time, so a large body is never held whole in memory.

use std::io::Read;

/// Reads `reader` to its end in parts of `part_bytes` (the last may be shorter; none for an
/// empty reader), handing each to `keep` with its number from 0; how many bytes it read.
/// `keep` may stop the reading with its error; a read error becomes `read_failed`'s.
pub fn each_part<E>(
    reader: &mut impl Read,
    part_bytes: usize,
    mut keep: impl FnMut(i32, &[u8]) -> Result<(), E>,
    read_failed: impl Fn(std::io::Error) -> E,
) -> Result<u64, E> {
    let mut buffer = vec![0u8; part_bytes];
    let (mut seq, mut total) = (0, 0u64);
    loop {
        let mut filled = 0;
        while filled < buffer.len() {
            match reader.read(&mut buffer[filled..]).map_err(&read_failed)? {
                0 => break,
                read => filled += read,
            }
        }
        if filled == 0 {
            return Ok(total);
        }
        total += filled as u64;
        keep(seq, &buffer[..filled])?;
        seq += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::each_part;

    #[test]
    fn parts_are_full_but_the_last() {
        let bytes: Vec<u8> = (0..10).collect();
        let mut parts = Vec::new();
        let read = each_part(
            &mut bytes.as_slice(),
            4,
            |seq, part| {
                parts.push((seq, part.to_vec()));
                Ok::<_, String>(())
            },
            |e| e.to_string(),
        )
        .unwrap();
        assert_eq!(read, 10);
        assert_eq!(
            parts,
            [
                (0, vec![0, 1, 2, 3]),
                (1, vec![4, 5, 6, 7]),
                (2, vec![8, 9])
            ]
        );
        let none = each_part(&mut [].as_slice(), 4, |_, _| Err("called"), |_| "read");
        assert_eq!(none, Ok(0));
        let stopped = each_part(
            &mut bytes.as_slice(),
            4,
            |seq, _| {
                if seq == 1 { Err("stopped") } else { Ok(()) }
            },
            |_| "read",
        );
        assert_eq!(stopped, Err("stopped"));
    }
}
