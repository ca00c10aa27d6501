//! The tools' side of the admin API: when a server is running, `routes`,
//! `deliveries` and `replay` ask it (through the admin listener it named in
//! its status files) rather than reading its files behind its back. With
//! the server's token in `HOOKHOST_ADMIN_TOKEN` when it has one.

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;

use crate::server::admin::TOKEN_VAR;

/// How long a tool waits for the server before saying so.
const WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The server could not be reached at all: nothing was asked of it.
#[derive(Debug, thiserror::Error)]
#[error("the server's admin API cannot be reached: {0}")]
pub struct Unreachable(std::io::Error);

/// The server wants a token this shell does not have: nothing was done.
#[derive(Debug, thiserror::Error)]
#[error("the server's admin API wants its token: set {TOKEN_VAR}")]
pub struct NeedsToken;

/// Whether `e` says the server did nothing, so the tool may do the work
/// itself without doing it twice.
pub fn nothing_done(e: &anyhow::Error) -> bool {
    e.is::<Unreachable>() || e.is::<NeedsToken>()
}

pub struct AdminClient {
    /// `host:port`, from `http://host:port`.
    authority: String,
    token: Option<String>,
}

impl AdminClient {
    pub fn new(url: &str) -> anyhow::Result<AdminClient> {
        let Some(authority) = url.strip_prefix("http://") else {
            bail!("the admin address {url} is not http://HOST:PORT");
        };
        Ok(AdminClient {
            authority: authority.trim_end_matches('/').to_owned(),
            token: std::env::var(TOKEN_VAR).ok().filter(|t| !t.is_empty()),
        })
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.send("GET", path, None).await
    }

    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<T> {
        self.send("POST", path, Some(body.to_string())).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
    ) -> anyhow::Result<T> {
        let connect = tokio::time::timeout(WAIT, tokio::net::TcpStream::connect(&self.authority));
        let stream = match connect.await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(Unreachable(e).into()),
            Err(_) => return Err(Unreachable(std::io::ErrorKind::TimedOut.into()).into()),
        };
        let exchange = async {
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(conn);
            let mut req = Request::builder()
                .method(method)
                .uri(path)
                .header(HOST, &self.authority);
            if let Some(token) = &self.token {
                req = req.header(AUTHORIZATION, format!("Bearer {token}"));
            }
            if body.is_some() {
                req = req.header(CONTENT_TYPE, "application/json");
            }
            let req = req.body(Full::new(Bytes::from(body.unwrap_or_default())))?;
            let res = sender.send_request(req).await?;
            let status = res.status();
            let bytes = res.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(WAIT, exchange)
            .await
            .context("the server's admin API did not answer")??;
        if status == 401 {
            return Err(NeedsToken.into());
        }
        if !status.is_success() {
            let reason = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_owned))
                .unwrap_or_else(|| status.to_string());
            bail!("the server's admin API said: {reason}");
        }
        serde_json::from_slice(&bytes).context("the server's admin API answered something else")
    }
}
