//! A stand-in remote for outbound tests: a real HTTP/1.1 server on
//! 127.0.0.1 that answers as told and records every request head it gets.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 with this body.
    Ok(String),
    /// 302 to this location.
    Redirect(String),
    /// 200 with this many bytes, with a Content-Length.
    Sized(usize),
    /// 200 with this many bytes, chunked, no length up front.
    Chunked(usize),
    /// Reads the request and never answers (the connection stays open).
    Never,
    /// 200 with the request head as received as the body.
    Echo,
    /// 200 with this body, keeping the connection open for the next request.
    KeepAlive(String),
}

pub struct StandIn {
    pub port: u16,
    heads: Arc<Mutex<Vec<String>>>,
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl StandIn {
    pub async fn start(reply: Reply) -> StandIn {
        StandIn::listen(reply, None).await
    }

    /// The same over TLS, with this certificate: `https://localhost:PORT`
    /// (the certificate names `localhost`).
    pub async fn start_tls(reply: Reply, tls: Arc<rustls::ServerConfig>) -> StandIn {
        StandIn::listen(reply, Some(TlsAcceptor::from(tls))).await
    }

    async fn listen(reply: Reply, tls: Option<TlsAcceptor>) -> StandIn {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind stand-in");
        let port = listener.local_addr().expect("stand-in address").port();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let seen = heads.clone();
        let connections = Arc::new(AtomicUsize::new(0));
        let accepted = connections.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                accepted.fetch_add(1, Ordering::Relaxed);
                let (reply, seen) = (reply.clone(), seen.clone());
                match &tls {
                    None => drop(tokio::spawn(serve(socket, reply, seen))),
                    Some(tls) => {
                        let tls = tls.clone();
                        tokio::spawn(async move {
                            // A client that refuses the certificate ends here.
                            if let Ok(socket) = tls.accept(socket).await {
                                serve(socket, reply, seen).await;
                            }
                        });
                    }
                }
            }
        });
        StandIn {
            port,
            heads,
            connections,
            task,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The request heads received so far.
    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().map(|h| h.clone()).unwrap_or_default()
    }

    pub fn count(&self) -> usize {
        self.heads().len()
    }

    /// The connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    mut socket: impl AsyncRead + AsyncWrite + Unpin,
    reply: Reply,
    seen: Arc<Mutex<Vec<String>>>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        // The tests send no request bodies to a keep-alive stand-in.
        buf.drain(..head_end);
        if let Ok(mut heads) = seen.lock() {
            heads.push(head.clone());
        }
        let response = match &reply {
            Reply::Ok(body) => ok(body.as_bytes()),
            Reply::Redirect(location) => format!(
                "HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            )
            .into_bytes(),
            Reply::Sized(n) => ok(&vec![b'x'; *n]),
            Reply::Chunked(n) => {
                let mut r =
                    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
                        .to_vec();
                for piece in vec![b'x'; *n].chunks(1000) {
                    r.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                    r.extend_from_slice(piece);
                    r.extend_from_slice(b"\r\n");
                }
                r.extend_from_slice(b"0\r\n\r\n");
                r
            }
            Reply::Never => {
                // Hold the connection until the other side gives up.
                let _ = socket.read(&mut chunk).await;
                return;
            }
            Reply::Echo => ok(head.as_bytes()),
            Reply::KeepAlive(body) => {
                let mut r = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len())
                    .into_bytes();
                r.extend_from_slice(body.as_bytes());
                if socket.write_all(&r).await.is_err() {
                    return;
                }
                continue;
            }
        };
        let _ = socket.write_all(&response).await;
        let _ = socket.shutdown().await;
        return;
    }
}

fn ok(body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}
