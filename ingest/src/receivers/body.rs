//! Reading request bodies with a size limit, decompressing gzip (OTLP) without letting a
//! small compressed body expand past the limit.

use std::io::Read;

use axum::body::{Body, Bytes};
use http::{HeaderMap, header};

use crate::error::IngestError;

/// Reads at most `limit` bytes of `body`; more is [`IngestError::TooLarge`].
pub async fn read_limited(body: Body, limit: usize) -> Result<Bytes, IngestError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        // `to_bytes` reports the limit through a boxed `LengthLimitError` source.
        if std::error::Error::source(&e).is_some_and(|s| s.to_string().contains("length limit")) {
            IngestError::TooLarge { limit_bytes: limit }
        } else {
            IngestError::InvalidInput(format!("could not read request body: {e}"))
        }
    })
}

/// Reads a body and undoes `Content-Encoding: gzip`; the limit applies after decompression.
pub async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, IngestError> {
    let raw = read_limited(body, limit).await?;
    let coding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    match coding.as_str() {
        "identity" | "" => Ok(raw),
        "gzip" => gunzip(&raw, limit).map(Bytes::from),
        other => Err(IngestError::UnsupportedMediaType(format!(
            "unsupported content-encoding {other:?}; use gzip or none"
        ))),
    }
}

/// Decompresses at most `limit` bytes; more is `TooLarge`, not a memory blow-up.
pub fn gunzip(raw: &[u8], limit: usize) -> Result<Vec<u8>, IngestError> {
    let mut out = Vec::new();
    let mut decoder = flate2::read::GzDecoder::new(raw).take(limit as u64 + 1);
    decoder
        .read_to_end(&mut out)
        .map_err(|e| IngestError::InvalidInput(format!("invalid gzip body: {e}")))?;
    if out.len() > limit {
        return Err(IngestError::TooLarge { limit_bytes: limit });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gunzip_enforces_the_limit_on_decompressed_size() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&vec![b'a'; 10_000]).unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(gunzip(&gz, 10_000).unwrap().len(), 10_000);
        assert!(matches!(
            gunzip(&gz, 9_999),
            Err(IngestError::TooLarge { limit_bytes: 9_999 })
        ));
        assert!(matches!(gunzip(b"not gzip", 100), Err(IngestError::InvalidInput(_))));
    }
}
