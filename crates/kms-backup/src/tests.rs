use kms_core::identity::Identity;
use kms_core::store::contract::{account, data_key, grant, key};
use kms_core::store::{ROOT_KEY_CHECK, ROOT_KEYRING, Record};

use super::*;

const CHECK: &str = "0123456789abcdef";

fn header() -> Header {
    Header {
        created_at: 1_700_000_000,
        source: Source::Postgres,
        root_key_check: Some(CHECK.into()),
    }
}

/// The header of a store without a check value (made before there was one, or empty).
fn unchecked() -> Header {
    Header {
        root_key_check: None,
        ..header()
    }
}

/// One record of every kind, in export order.
fn records() -> Vec<Record> {
    let k = key(7, "a", 10);
    let mut d = data_key(7, "d", 12);
    d.key_id = k.key_id;
    vec![
        Record::Account(account(7)),
        Record::Identity(Identity::default()),
        Record::SecretId {
            secret_id: "AKID7".into(),
            account: 7,
        },
        Record::Setting {
            name: ROOT_KEY_CHECK.into(),
            value: CHECK.as_bytes().to_vec(),
        },
        Record::Setting {
            name: ROOT_KEYRING.into(),
            value: vec![9; 60],
        },
        Record::Key(k.clone()),
        Record::Key(key(7, "b", 11)),
        Record::DataKey(d),
        Record::Grant(grant(k.key_id, 1, "")),
    ]
}

fn text(record: &Record) -> String {
    serde_json::to_string(record).unwrap()
}

fn backup(header: &Header, records: &[Record]) -> Vec<u8> {
    let mut writer = Writer::new(Vec::new(), header).unwrap();
    for record in records {
        writer.record(record).unwrap();
    }
    writer.finish().unwrap().0
}

/// A backup assembled frame by frame, with a correct digest, for what the writer refuses to make.
fn assembled(version: u16, header: &[u8], frames: &[(u8, &[u8])]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&(header.len() as u32).to_be_bytes());
    out.extend_from_slice(header);
    for (tag, payload) in frames {
        out.push(*tag);
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        out.extend_from_slice(payload);
    }
    let sum = digest::digest(&digest::SHA256, &out);
    out.extend_from_slice(sum.as_ref());
    out
}

fn header_text(header: &Header) -> Vec<u8> {
    serde_json::to_vec(header).unwrap()
}

fn counts_of(records: &[Record]) -> Vec<u8> {
    let mut counts = Counts::default();
    records.iter().for_each(|r| counts.add(r));
    serde_json::to_vec(&counts).unwrap()
}

#[test]
fn what_is_written_reads_back_record_for_record() {
    let records = records();
    let bytes = backup(&header(), &records);
    let mut reader = Reader::open(bytes.as_slice()).unwrap();
    assert_eq!(reader.header(), &header());
    let mut read = Vec::new();
    while let Some(record) = reader.next_record().unwrap() {
        read.push(text(&record));
    }
    assert_eq!(read, records.iter().map(text).collect::<Vec<_>>());
    let counts = reader.counts().clone();
    assert_eq!(
        (
            counts.accounts,
            counts.identity,
            counts.secret_ids,
            counts.settings
        ),
        (1, 1, 1, 2)
    );
    assert_eq!((counts.keys, counts.data_keys, counts.grants), (2, 1, 1));
    assert_eq!(counts.total(), 9);
    assert!(
        reader.next_record().unwrap().is_none(),
        "the end stays the end"
    );
    assert_eq!(verify(bytes.as_slice()).unwrap(), (header(), counts));
}

#[test]
fn the_layout_is_magic_version_header_frames_and_a_sha256_trailer() {
    let bytes = backup(&unchecked(), &[]);
    assert_eq!(&bytes[..8], b"KMSDBKUP");
    assert_eq!(&bytes[8..10], &[0, 1]);
    let header_len = u32::from_be_bytes(bytes[10..14].try_into().unwrap()) as usize;
    assert_eq!(
        &bytes[14..14 + header_len],
        header_text(&unchecked()).as_slice()
    );
    // No records: the end frame, then the digest.
    let end = 14 + header_len;
    assert_eq!(bytes[end], 2);
    let (body, trailer) = bytes.split_at(bytes.len() - 32);
    // The trailer is SHA-256 (FIPS 180-4) of every byte before it; checked against the empty
    // input's published digest first, so the hash is the one named.
    assert_eq!(
        hex::encode(digest::digest(&digest::SHA256, b"")),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(trailer, digest::digest(&digest::SHA256, body).as_ref());
    assert_eq!(verify(bytes.as_slice()).unwrap().0, unchecked());
}

#[test]
fn every_truncation_is_refused_as_one() {
    let bytes = backup(&header(), &records());
    for len in 0..bytes.len() {
        match verify(&bytes[..len]) {
            Err(BackupError::Truncated(_)) => {}
            other => panic!("a backup cut to {len} bytes gave {:?}", other.map(|_| ())),
        }
    }
}

#[test]
fn every_changed_byte_is_refused() {
    let bytes = backup(&header(), &records());
    for at in 0..bytes.len() {
        for flip in [0x01, 0x80, 0xff] {
            let mut changed = bytes.clone();
            changed[at] ^= flip;
            assert!(
                verify(changed.as_slice()).is_err(),
                "byte {at} xor {flip:#x} went unnoticed"
            );
        }
    }
}

#[test]
fn a_changed_record_with_its_frame_intact_fails_the_digest() {
    let bytes = backup(&header(), &records());
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let at = text.find("\"AKID7\"").unwrap() + 5;
    let mut changed = bytes.clone();
    changed[at] = b'8';
    assert!(matches!(
        verify(changed.as_slice()),
        Err(BackupError::Digest)
    ));
}

#[test]
fn bytes_after_the_digest_are_refused() {
    let mut bytes = backup(&header(), &records());
    bytes.push(0);
    assert!(matches!(
        verify(bytes.as_slice()),
        Err(BackupError::Malformed(m)) if m.contains("follow the digest")
    ));
}

#[test]
fn another_magic_or_format_version_is_refused() {
    let mut bytes = backup(&header(), &records());
    bytes[0] = b'X';
    assert!(matches!(
        verify(bytes.as_slice()),
        Err(BackupError::NotABackup)
    ));
    let later = assembled(2, &header_text(&header()), &[]);
    assert!(matches!(
        verify(later.as_slice()),
        Err(BackupError::Version(2))
    ));
    assert!(matches!(
        verify(&b"PK\x03\x04 a zip file"[..]),
        Err(BackupError::NotABackup)
    ));
}

#[test]
fn oversized_lengths_are_refused_before_anything_is_read() {
    let mut big_header = MAGIC.to_vec();
    big_header.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
    big_header.extend_from_slice(&(MAX_HEADER + 1).to_be_bytes());
    assert!(matches!(
        verify(big_header.as_slice()),
        Err(BackupError::Oversized { what: "header", length, .. }) if length == MAX_HEADER + 1
    ));
    let good = backup(&unchecked(), &[]);
    let header_end = 14 + u32::from_be_bytes(good[10..14].try_into().unwrap()) as usize;
    for (tag, length, what) in [
        (TAG_RECORD, u32::MAX, "record"),
        (TAG_RECORD, MAX_RECORD + 1, "record"),
        (TAG_END, MAX_END + 1, "end"),
    ] {
        let mut bytes = good[..header_end].to_vec();
        bytes.push(tag);
        bytes.extend_from_slice(&length.to_be_bytes());
        match verify(bytes.as_slice()) {
            Err(BackupError::Oversized {
                what: w, length: l, ..
            }) => {
                assert_eq!((w, l), (what, length));
            }
            other => panic!("{what} of {length}: {:?}", other.map(|_| ())),
        }
    }
    // A length within the cap that the file does not hold is a truncation, and costs only the
    // bytes that are there.
    let mut bytes = good[..header_end].to_vec();
    bytes.push(TAG_RECORD);
    bytes.extend_from_slice(&MAX_RECORD.to_be_bytes());
    bytes.extend_from_slice(b"{}");
    assert!(matches!(
        verify(bytes.as_slice()),
        Err(BackupError::Truncated("record"))
    ));
}

#[test]
fn records_out_of_export_order_are_refused_by_writer_and_reader() {
    let records = records();
    let (account, key) = (&records[0], &records[5]);
    let mut writer = Writer::new(Vec::new(), &header()).unwrap();
    writer.record(key).unwrap();
    assert!(matches!(
        writer.record(account),
        Err(BackupError::Malformed(_))
    ));
    let frames = [
        (TAG_RECORD, text(key).into_bytes()),
        (TAG_RECORD, text(account).into_bytes()),
        (TAG_END, counts_of(&[key.clone(), account.clone()])),
    ];
    let frames: Vec<(u8, &[u8])> = frames.iter().map(|(t, p)| (*t, p.as_slice())).collect();
    let none = unchecked();
    let bytes = assembled(FORMAT_VERSION, &header_text(&none), &frames);
    assert!(matches!(
        verify(bytes.as_slice()),
        Err(BackupError::Malformed(m)) if m.contains("out of order")
    ));
    let identity = text(&records[1]).into_bytes();
    let twice = assembled(
        FORMAT_VERSION,
        &header_text(&none),
        &[(TAG_RECORD, &identity), (TAG_RECORD, &identity)],
    );
    assert!(matches!(
        verify(twice.as_slice()),
        Err(BackupError::Malformed(m)) if m.contains("more than one identity")
    ));
}

#[test]
fn counts_that_do_not_match_the_records_are_refused() {
    let records = records();
    let mut frames: Vec<(u8, Vec<u8>)> = records
        .iter()
        .map(|r| (TAG_RECORD, text(r).into_bytes()))
        .collect();
    let mut stated = Counts::default();
    records.iter().for_each(|r| stated.add(r));
    stated.keys += 1;
    frames.push((TAG_END, serde_json::to_vec(&stated).unwrap()));
    let frames: Vec<(u8, &[u8])> = frames.iter().map(|(t, p)| (*t, p.as_slice())).collect();
    let bytes = assembled(FORMAT_VERSION, &header_text(&header()), &frames);
    match verify(bytes.as_slice()) {
        Err(BackupError::Counts { stated: s, found }) => {
            assert_eq!((s.keys, found.keys), (3, 2));
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
}

#[test]
fn the_root_key_check_value_must_agree_with_the_header() {
    let records = records();
    let other = Header {
        root_key_check: Some("fedcba9876543210".into()),
        ..header()
    };
    let mut writer = Writer::new(Vec::new(), &other).unwrap();
    for record in &records[..3] {
        writer.record(record).unwrap();
    }
    assert!(matches!(
        writer.record(&records[3]),
        Err(BackupError::Malformed(m)) if m.contains("not the header's")
    ));
    // Named by the header, held by no record.
    let without: Vec<Record> = records
        .iter()
        .filter(|r| !matches!(r, Record::Setting { name, .. } if name == ROOT_KEY_CHECK))
        .cloned()
        .collect();
    let mut writer = Writer::new(Vec::new(), &header()).unwrap();
    for record in &without {
        writer.record(record).unwrap();
    }
    assert!(matches!(
        writer.finish(),
        Err(BackupError::Malformed(m)) if m.contains("no record holds")
    ));
    let bad = Header {
        root_key_check: Some("not hex".into()),
        ..header()
    };
    let bytes = assembled(FORMAT_VERSION, &header_text(&bad), &[]);
    assert!(matches!(
        verify(bytes.as_slice()),
        Err(BackupError::Malformed(m)) if m.contains("16 hex digits")
    ));
}

#[test]
fn malformed_frames_are_refused() {
    let none = header_text(&unchecked());
    type Frames<'a> = &'a [(u8, &'a [u8])];
    let cases: [(Frames, &str); 4] = [
        (&[(7, b"")], "unknown frame tag 7"),
        (&[(TAG_RECORD, b"{\"Key\": 1}")], "record 1 is not valid"),
        (&[(TAG_RECORD, b"[[[[[[[[[[")], "record 1 is not valid"),
        (
            &[(TAG_END, b"{\"keys\": 1, \"extra\": 2}")],
            "the end is not valid",
        ),
    ];
    for (frames, want) in cases {
        let bytes = assembled(FORMAT_VERSION, &none, frames);
        match verify(bytes.as_slice()) {
            Err(BackupError::Malformed(m)) => assert!(m.contains(want), "{m}"),
            other => panic!("{want}: {:?}", other.map(|_| ())),
        }
    }
    let bytes = assembled(FORMAT_VERSION, b"{\"created_at\": 1}", &[]);
    assert!(matches!(
        verify(bytes.as_slice()),
        Err(BackupError::Malformed(m)) if m.contains("header is not valid")
    ));
}
