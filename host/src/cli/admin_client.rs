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
        let exchange = async {
            let stream = tokio::net::TcpStream::connect(&self.authority).await?;
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
            bail!("the server's admin API wants its token: set {TOKEN_VAR}");
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
