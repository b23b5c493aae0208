//! The backup file reader (`kmsd backup verify`, `kmsd restore`), which reads files an operator
//! was handed. The first byte picks the mode: odd, the rest is read as it is; even, the harness
//! replaces the rest's last 32 bytes with the SHA-256 of what comes before them, so the fuzzer
//! passes the digest and reaches the record parser and the order, count and check-value rules.
//! Asserts that the reader ends in an answer (never a panic), and that a backup it accepts,
//! written again by the writer, reads back to the same header, records and counts.

use aws_lc_rs::digest;

use kms_backup::{Reader, Writer};

const DIGEST_LEN: usize = 32;

pub fn backup_file(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut input = rest.to_vec();
    if mode % 2 == 0 && input.len() >= DIGEST_LEN {
        let body = input.len() - DIGEST_LEN;
        let sum = digest::digest(&digest::SHA256, &input[..body]);
        input[body..].copy_from_slice(sum.as_ref());
    }
    let Some((header, records)) = read_all(&input) else {
        return;
    };
    let mut writer = Writer::new(Vec::new(), &header).expect("an accepted header is written");
    for record in &records {
        writer
            .record(&serde_json::from_str(record).expect("a record read is a record"))
            .expect("an accepted record is written");
    }
    let (again, counts) = writer.finish().expect("an accepted backup is written");
    let (header_again, records_again) = read_all(&again).expect("what was written reads back");
    assert_eq!(header_again, header);
    assert_eq!(records_again, records);
    assert_eq!(counts.total(), records.len() as u64);
}

/// The header and the records (as JSON) of an intact backup; `None` when it is refused.
fn read_all(input: &[u8]) -> Option<(kms_backup::Header, Vec<String>)> {
    let mut reader = Reader::open(input).ok()?;
    let mut records = Vec::new();
    loop {
        match reader.next_record() {
            Ok(Some(record)) => {
                records.push(serde_json::to_string(&record).expect("a record serializes"))
            }
            Ok(None) => return Some((reader.header().clone(), records)),
            Err(_) => return None,
        }
    }
}
