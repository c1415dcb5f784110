//! Reading request bodies under admission control: the bytes are taken from the request's
//! [`Ticket`] before they are buffered (all of a `Content-Length` up front, else chunk by
//! chunk), the body must arrive within the listener's body timeout, and gzip is undone
//! without letting a small compressed body expand past the limit.

use std::io::Read;
use std::time::Duration;

use axum::body::{Body, Bytes};
use http::{HeaderMap, header};
use http_body_util::BodyExt;

use crate::admission::Ticket;
use crate::error::IngestError;

/// The declared `Content-Length`, if any.
pub fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Takes the declared length from the ticket before anything is read: an oversized or
/// unaffordable request is answered before its body is sent.
pub fn admit_declared(headers: &HeaderMap, ticket: &mut Ticket, limit: usize) -> Result<(), IngestError> {
    if let Some(len) = content_length(headers) {
        if len > limit as u64 {
            return Err(IngestError::TooLarge { limit_bytes: limit });
        }
        ticket.grow(len)?;
    }
    Ok(())
}

/// Reads at most `limit` bytes of `body` within `timeout`. Bytes beyond what
/// [`admit_declared`] took are taken from the ticket as they arrive.
pub async fn read_admitted(
    headers: &HeaderMap,
    body: Body,
    ticket: &mut Ticket,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, IngestError> {
    let declared = content_length(headers);
    let read = async {
        let mut body = body;
        let mut buf: Vec<u8> = Vec::with_capacity(declared.unwrap_or(0).min(limit as u64) as usize);
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| IngestError::InvalidInput(format!("could not read request body: {e}")))?;
            let Ok(data) = frame.into_data() else { continue };
            if buf.len() + data.len() > limit {
                return Err(IngestError::TooLarge { limit_bytes: limit });
            }
            let beyond_declared = match declared {
                Some(d) => (buf.len() as u64 + data.len() as u64).saturating_sub(d.max(buf.len() as u64)),
                None => data.len() as u64,
            };
            ticket.grow(beyond_declared)?;
            buf.extend_from_slice(&data);
        }
        Ok(Bytes::from(buf))
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(r) => r,
        Err(_) => Err(IngestError::Timeout(format!(
            "the request body did not arrive within {} s",
            timeout.as_secs()
        ))),
    }
}

/// Undoes `Content-Encoding: gzip` (OTLP); the limit applies after decompression and the
/// decompressed bytes are taken from the ticket as they are produced.
pub fn decompress(headers: &HeaderMap, raw: Bytes, ticket: &mut Ticket, limit: usize) -> Result<Bytes, IngestError> {
    match gzipped(headers)? {
        false => Ok(raw),
        true => gunzip(&raw, limit, Some(ticket)).map(Bytes::from),
    }
}

/// Checks the content encoding before the body is read.
pub fn check_encoding(headers: &HeaderMap) -> Result<(), IngestError> {
    gzipped(headers).map(|_| ())
}

/// Whether the body is gzip (else identity); any other content encoding is refused.
fn gzipped(headers: &HeaderMap) -> Result<bool, IngestError> {
    let coding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    match coding.as_str() {
        "identity" | "" => Ok(false),
        "gzip" => Ok(true),
        other => Err(IngestError::UnsupportedMediaType(format!(
            "unsupported content-encoding {other:?}; use gzip or none"
        ))),
    }
}

/// Decompresses at most `limit` bytes; more is `TooLarge`, not a memory blow-up.
pub fn gunzip(raw: &[u8], limit: usize, mut ticket: Option<&mut Ticket>) -> Result<Vec<u8>, IngestError> {
    const CHUNK: usize = 64 * 1024;
    let mut out = Vec::new();
    let mut decoder = flate2::read::GzDecoder::new(raw);
    let mut chunk = vec![0u8; CHUNK];
    loop {
        let n = decoder
            .read(&mut chunk)
            .map_err(|e| IngestError::InvalidInput(format!("invalid gzip body: {e}")))?;
        if n == 0 {
            return Ok(out);
        }
        if out.len() + n > limit {
            return Err(IngestError::TooLarge { limit_bytes: limit });
        }
        if let Some(t) = ticket.as_deref_mut() {
            t.grow(n as u64)?;
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::Admission;

    fn gz(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn gunzip_enforces_the_limit_on_decompressed_size() {
        let z = gz(&vec![b'a'; 10_000]);
        assert_eq!(gunzip(&z, 10_000, None).unwrap().len(), 10_000);
        assert!(matches!(
            gunzip(&z, 9_999, None),
            Err(IngestError::TooLarge { limit_bytes: 9_999 })
        ));
        assert!(matches!(
            gunzip(b"not gzip", 100, None),
            Err(IngestError::InvalidInput(_))
        ));
    }

    #[test]
    fn gunzip_takes_the_decompressed_bytes_from_the_ticket() {
        let z = gz(&vec![b'a'; 300_000]);
        let a = Admission::new(200_000);
        let mut t = a.ticket();
        assert!(matches!(
            gunzip(&z, 1 << 20, Some(&mut t)),
            Err(IngestError::Exhausted(_))
        ));
        let a = Admission::new(1 << 20);
        let mut t = a.ticket();
        assert_eq!(gunzip(&z, 1 << 20, Some(&mut t)).unwrap().len(), 300_000);
        assert_eq!(t.held(), 300_000);
    }

    #[tokio::test]
    async fn bodies_are_admitted_by_declared_length_or_as_they_stream() {
        let a = Admission::new(1000);
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_LENGTH, "600".parse().unwrap());
        let mut t = a.ticket();
        admit_declared(&h, &mut t, 10_000).unwrap();
        let body = read_admitted(&h, Body::from(vec![1u8; 600]), &mut t, 10_000, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!((body.len(), t.held()), (600, 600));
        // Without a length, the bytes are taken as they come: 500 more do not fit.
        let mut t2 = a.ticket();
        let r = read_admitted(
            &HeaderMap::new(),
            Body::from(vec![1u8; 500]),
            &mut t2,
            10_000,
            Duration::from_secs(5),
        )
        .await;
        assert!(matches!(r, Err(IngestError::Overloaded)), "{r:?}");
        // Declared over the limit: refused before reading.
        h.insert(header::CONTENT_LENGTH, "20000".parse().unwrap());
        assert!(matches!(
            admit_declared(&h, &mut a.ticket(), 10_000),
            Err(IngestError::TooLarge { .. })
        ));
    }
}
