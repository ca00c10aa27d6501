//! A connection over the cap: read what the sender has sent, answer `503`,
//! and close so that the answer arrives (closing with unread bytes would
//! reset the connection and could lose it). A few at a time; past that a
//! connection is closed at once.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// The longest a refusal waits for the request, and then for the close.
const LINGER: Duration = Duration::from_millis(500);
/// Enough for any request head we would accept.
const READ_AT_MOST: usize = 64 << 10;

const BODY: &str = r#"{"error":"too many open connections; try again shortly"}"#;

fn answer() -> String {
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{BODY}",
        BODY.len()
    )
}

/// What became of a connection over the cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    Answered,
    /// Too many refusals at once: closed without an answer.
    Dropped,
}

pub fn refuse(stream: TcpStream, refusing: &Arc<Semaphore>) -> Refused {
    let Ok(permit) = refusing.clone().try_acquire_owned() else {
        return Refused::Dropped;
    };
    tokio::spawn(async move {
        let _permit = permit;
        answer_and_close(stream).await;
    });
    Refused::Answered
}

async fn answer_and_close(mut stream: TcpStream) {
    // The request head first, so the answer is an answer to it.
    let mut head = Vec::new();
    let _ = tokio::time::timeout(LINGER, async {
        let mut buf = [0u8; 4096];
        while head.len() < READ_AT_MOST {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
            if head.windows(4).any(|w| w == b"\r\n\r\n") {
                return;
            }
        }
    })
    .await;
    if stream.write_all(answer().as_bytes()).await.is_err() || stream.shutdown().await.is_err() {
        return;
    }
    // Until the sender closes too, so our close is not a reset.
    let _ = tokio::time::timeout(LINGER, async {
        let mut buf = [0u8; 4096];
        let mut drained = 0;
        while drained < READ_AT_MOST {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => drained += n,
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_is_well_formed_http() {
        let text = answer();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or_default();
        assert!(head.starts_with("HTTP/1.1 503 "));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let json: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        assert!(json["error"].is_string());
    }
}
