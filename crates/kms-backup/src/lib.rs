//! The backup file (`kmsd backup`, `kmsd restore`): everything a store holds, as
//! [`Store::export`](kms_core::Store::export) hands it out, in one file whose integrity can be
//! checked without the root of trust.
//!
//! ```text
//! magic "KMSDBKUP" | format version (u16) | header length (u32) | header (JSON)
//! frames: tag (u8) | length (u32) | payload
//!         tag 1: one record (JSON), tag 2: the end (counts, JSON)
//! SHA-256 of every byte before it (32 bytes), then nothing
//! ```
//!
//! Integers are big-endian. Records are the store's own JSON of [`Record`], so sealed values stay
//! sealed: the file is useless without the root of trust that sealed them, which it does not
//! hold. The counts come at the end because a stream cannot know them before its last record
//! without reading the store twice. Every length is capped and read as the bytes arrive, so a
//! hostile file costs at most one capped record of memory and ends in an error, never a panic.

mod tally;

use std::io::{self, Read, Write};

use aws_lc_rs::digest;
use serde::{Deserialize, Serialize};

use kms_core::store::Record;

pub use tally::Counts;
use tally::Tally;

/// The first bytes of every backup file.
pub const MAGIC: &[u8; 8] = b"KMSDBKUP";
/// The format this code writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// The largest header accepted.
pub const MAX_HEADER: u32 = 4096;
/// The largest record accepted: the identity document (every account's users, credentials and
/// policies) is one record, so this is generous.
pub const MAX_RECORD: u32 = 64 << 20;
/// The largest end frame accepted (it holds seven counts).
pub const MAX_END: u32 = 1024;
const DIGEST_LEN: usize = 32;

const TAG_RECORD: u8 = 1;
const TAG_END: u8 = 2;

/// What kind of store a backup was taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Embedded,
    Postgres,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Source::Embedded => "embedded",
            Source::Postgres => "postgres",
        })
    }
}

/// What a backup says about itself before its records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// Unix seconds when the backup began.
    pub created_at: u64,
    pub source: Source,
    /// The root key's check value as the store keeps it (hex), if the store has one: which root
    /// of trust opens the backup's records, without the root of trust.
    pub root_key_check: Option<String>,
}

/// Why a backup file was refused.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("reading or writing the backup: {0}")]
    Io(#[from] io::Error),
    #[error("the backup is truncated: it ends inside {0}")]
    Truncated(&'static str),
    #[error("this is not a kmsd backup file (its first bytes are not the backup's magic)")]
    NotABackup,
    #[error("the backup's format version is {0}; this kmsd reads version {FORMAT_VERSION} only")]
    Version(u16),
    #[error("the backup's {what} claims {length} bytes, more than the {max} allowed")]
    Oversized {
        what: &'static str,
        length: u32,
        max: u32,
    },
    #[error("the backup is malformed: {0}")]
    Malformed(String),
    #[error("the backup's digest does not match its contents: it was changed or damaged")]
    Digest,
    #[error("the backup holds {found} but its end says {stated}")]
    Counts { stated: Counts, found: Counts },
}

fn malformed(message: impl Into<String>) -> BackupError {
    BackupError::Malformed(message.into())
}

/// Writes a backup: the header now, each record as it comes, the end and digest on
/// [`Writer::finish`]. Refuses records out of [`Store::export`](kms_core::Store::export)'s order,
/// so whatever it writes reads back.
pub struct Writer<W: Write> {
    out: W,
    digest: digest::Context,
    tally: Tally,
}

impl<W: Write> Writer<W> {
    pub fn new(out: W, header: &Header) -> Result<Self, BackupError> {
        let text = serde_json::to_vec(header).map_err(|e| malformed(e.to_string()))?;
        let mut writer = Self {
            out,
            digest: digest::Context::new(&digest::SHA256),
            tally: Tally::new(header.root_key_check.clone()),
        };
        writer.put(MAGIC)?;
        writer.put(&FORMAT_VERSION.to_be_bytes())?;
        writer.put(&frame_length(text.len(), MAX_HEADER, "header")?.to_be_bytes())?;
        writer.put(&text)?;
        Ok(writer)
    }

    pub fn record(&mut self, record: &Record) -> Result<(), BackupError> {
        self.tally.admit(record)?;
        let payload = serde_json::to_vec(record).map_err(|e| malformed(e.to_string()))?;
        self.frame(TAG_RECORD, &payload, MAX_RECORD, "record")
    }

    /// Writes the end and the digest; answers the output and what was written.
    pub fn finish(mut self) -> Result<(W, Counts), BackupError> {
        self.tally.complete()?;
        let end = serde_json::to_vec(&self.tally.counts).map_err(|e| malformed(e.to_string()))?;
        self.frame(TAG_END, &end, MAX_END, "end")?;
        let sum = self.digest.finish();
        self.out.write_all(sum.as_ref())?;
        self.out.flush()?;
        Ok((self.out, self.tally.counts))
    }

    fn frame(
        &mut self,
        tag: u8,
        payload: &[u8],
        max: u32,
        what: &'static str,
    ) -> Result<(), BackupError> {
        let length = frame_length(payload.len(), max, what)?;
        self.put(&[tag])?;
        self.put(&length.to_be_bytes())?;
        self.put(payload)
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), BackupError> {
        self.digest.update(bytes);
        self.out.write_all(bytes)?;
        Ok(())
    }
}

fn frame_length(length: usize, max: u32, what: &'static str) -> Result<u32, BackupError> {
    match u32::try_from(length) {
        Ok(length) if length <= max => Ok(length),
        _ => Err(BackupError::Oversized {
            what,
            length: u32::try_from(length).unwrap_or(u32::MAX),
            max,
        }),
    }
}

/// Reads a backup as it streams in, one record at a time. [`Reader::next_record`] answers `None`
/// only once the end, the counts and the digest have been checked; a record it handed out before
/// is therefore not known to be intact until then.
pub struct Reader<R: Read> {
    input: R,
    digest: digest::Context,
    header: Header,
    tally: Tally,
    finished: bool,
}

impl<R: Read> Reader<R> {
    /// Reads and checks the magic, the format version and the header.
    pub fn open(input: R) -> Result<Self, BackupError> {
        let mut reader = Self {
            input,
            digest: digest::Context::new(&digest::SHA256),
            header: Header {
                created_at: 0,
                source: Source::Embedded,
                root_key_check: None,
            },
            tally: Tally::new(None),
            finished: false,
        };
        let mut magic = [0u8; 8];
        reader.take_exact(&mut magic, "the magic")?;
        if &magic != MAGIC {
            return Err(BackupError::NotABackup);
        }
        let mut version = [0u8; 2];
        reader.take_exact(&mut version, "the format version")?;
        let version = u16::from_be_bytes(version);
        if version != FORMAT_VERSION {
            return Err(BackupError::Version(version));
        }
        let text = reader.payload(MAX_HEADER, "header")?;
        reader.header = serde_json::from_slice(&text)
            .map_err(|e| malformed(format!("the header is not valid: {e}")))?;
        if let Some(check) = &reader.header.root_key_check
            && !(check.len() == 16 && check.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(malformed(
                "the header's root key check value is not 16 hex digits",
            ));
        }
        reader.tally = Tally::new(reader.header.root_key_check.clone());
        Ok(reader)
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The records read so far, by kind.
    pub fn counts(&self) -> &Counts {
        &self.tally.counts
    }

    /// The next record; `None` after the end, once the counts and digest have checked out and
    /// nothing follows the digest.
    pub fn next_record(&mut self) -> Result<Option<Record>, BackupError> {
        if self.finished {
            return Ok(None);
        }
        let mut tag = [0u8; 1];
        self.take_exact(&mut tag, "a frame's tag")?;
        match tag[0] {
            TAG_RECORD => {
                let payload = self.payload(MAX_RECORD, "record")?;
                let record: Record = serde_json::from_slice(&payload).map_err(|e| {
                    malformed(format!(
                        "record {} is not valid: {e}",
                        self.tally.counts.total() + 1
                    ))
                })?;
                self.tally.admit(&record)?;
                Ok(Some(record))
            }
            TAG_END => {
                let payload = self.payload(MAX_END, "end")?;
                let stated: Counts = serde_json::from_slice(&payload)
                    .map_err(|e| malformed(format!("the end is not valid: {e}")))?;
                let computed =
                    std::mem::replace(&mut self.digest, digest::Context::new(&digest::SHA256))
                        .finish();
                let mut stored = [0u8; DIGEST_LEN];
                self.input
                    .read_exact(&mut stored)
                    .map_err(|e| truncation(e, "the digest"))?;
                if computed.as_ref() != stored {
                    return Err(BackupError::Digest);
                }
                let mut extra = [0u8; 1];
                if read_some(&mut self.input, &mut extra)? != 0 {
                    return Err(malformed("bytes follow the digest"));
                }
                if stated != self.tally.counts {
                    return Err(BackupError::Counts {
                        stated,
                        found: self.tally.counts.clone(),
                    });
                }
                self.tally.complete()?;
                self.finished = true;
                Ok(None)
            }
            other => Err(malformed(format!("unknown frame tag {other}"))),
        }
    }

    /// Reads a length and that many bytes, growing the buffer only as bytes arrive.
    fn payload(&mut self, max: u32, what: &'static str) -> Result<Vec<u8>, BackupError> {
        let mut length = [0u8; 4];
        self.take_exact(&mut length, what)?;
        let length = u32::from_be_bytes(length);
        if length > max {
            return Err(BackupError::Oversized { what, length, max });
        }
        let mut payload = Vec::new();
        (&mut self.input)
            .take(u64::from(length))
            .read_to_end(&mut payload)?;
        if payload.len() != length as usize {
            return Err(BackupError::Truncated(what));
        }
        self.digest.update(&payload);
        Ok(payload)
    }

    fn take_exact(&mut self, buf: &mut [u8], what: &'static str) -> Result<(), BackupError> {
        self.input
            .read_exact(buf)
            .map_err(|e| truncation(e, what))?;
        self.digest.update(buf);
        Ok(())
    }
}

fn truncation(e: io::Error, what: &'static str) -> BackupError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        BackupError::Truncated(what)
    } else {
        BackupError::Io(e)
    }
}

/// One read that retries on interruption: how many bytes came (0 at the end).
fn read_some(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match input.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Reads a whole backup and checks it (structure, order, counts, digest) without the root of
/// trust: its header and counts.
pub fn verify(input: impl Read) -> Result<(Header, Counts), BackupError> {
    let mut reader = Reader::open(input)?;
    while reader.next_record()?.is_some() {}
    Ok((reader.header.clone(), reader.tally.counts.clone()))
}

#[cfg(test)]
mod tests;
