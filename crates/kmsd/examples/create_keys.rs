//! Durable CreateKey under concurrency: CLIENTS threads, each on one keep-alive connection,
//! send TC3-signed CreateKey requests (a fresh alias each, so a fresh signature each) for
//! SECONDS, and the rate of acknowledged creations is printed. A Python client could not sign
//! and send fast enough to load the server, hence this.
//!
//! usage: cargo run --release --example create_keys -- ENDPOINT SECRET_ID SECRET_KEY [CLIENTS] [SECONDS]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kms_crypto::digest::{hmac_sha256, sha256};

fn signed_request(endpoint: &str, secret_id: &str, secret_key: &str, body: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (year, month, day) = kms_core::utc_civil_date(now);
    let date = format!("{year:04}-{month:02}-{day:02}");
    let canonical = format!(
        "POST\n/\n\ncontent-type:application/json\nhost:{endpoint}\n\ncontent-type;host\n{}",
        hex::encode(sha256(body.as_bytes()))
    );
    let scope = format!("{date}/kms/tc3_request");
    let to_sign = format!(
        "TC3-HMAC-SHA256\n{now}\n{scope}\n{}",
        hex::encode(sha256(canonical.as_bytes()))
    );
    let key = hmac_sha256(format!("TC3{secret_key}").as_bytes(), date.as_bytes());
    let key = hmac_sha256(&key, b"kms");
    let key = hmac_sha256(&key, b"tc3_request");
    let signature = hex::encode(hmac_sha256(&key, to_sign.as_bytes()));
    format!(
        "POST / HTTP/1.1\r\nHost: {endpoint}\r\nContent-Type: application/json\r\n\
         X-TC-Action: CreateKey\r\nX-TC-Version: 2019-01-18\r\nX-TC-Region: ap-guangzhou\r\n\
         X-TC-Timestamp: {now}\r\nAuthorization: TC3-HMAC-SHA256 Credential={secret_id}/{scope}, \
         SignedHeaders=content-type;host, Signature={signature}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Reads one response; whether it acknowledged a created key.
fn read_response(reader: &mut BufReader<TcpStream>) -> std::io::Result<bool> {
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(body.windows(7).any(|w| w == b"\"KeyId\""))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (endpoint, secret_id, secret_key) = (&args[1], &args[2], &args[3]);
    let clients: u64 = args.get(4).map_or(32, |a| a.parse().unwrap());
    let seconds: u64 = args.get(5).map_or(10, |a| a.parse().unwrap());
    let (created, refused) = (AtomicU64::new(0), AtomicU64::new(0));
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let run = format!(
        "{:x}",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    std::thread::scope(|scope| {
        for client in 0..clients {
            let (created, refused, run) = (&created, &refused, &run);
            scope.spawn(move || {
                let stream = TcpStream::connect(endpoint).expect("connecting");
                stream.set_nodelay(true).unwrap();
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                let mut n = 0u64;
                while Instant::now() < until {
                    let body = format!("{{\"Alias\":\"load-{run}-{client}-{n}\"}}");
                    n += 1;
                    let request = signed_request(endpoint, secret_id, secret_key, &body);
                    writer.write_all(request.as_bytes()).expect("sending");
                    if read_response(&mut reader).expect("reading") {
                        created.fetch_add(1, Ordering::Relaxed);
                    } else {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let created = created.load(Ordering::Relaxed);
    println!(
        "{clients} clients, {elapsed:.1} s: {created} keys created ({:.0}/s), {} refused",
        created as f64 / elapsed,
        refused.load(Ordering::Relaxed)
    );
}
