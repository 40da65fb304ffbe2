//! MCP's streamable HTTP transport for [`McpServer`]: on loopback, behind a bearer token.

use std::sync::Arc;

use super::McpServer;

/// A bearer token for the HTTP transport: 32 random bytes as hex.
pub fn new_token() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("cannot make a token: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Whether an `Authorization` header value carries `token` (compared in constant time, so
/// the answer's timing does not tell how much of a guess was right).
pub fn bearer_matches(header: Option<&[u8]>, token: &str) -> bool {
    let Some(h) = header else { return false };
    let Some(given) = h.strip_prefix(b"Bearer ") else { return false };
    let want = token.as_bytes();
    if given.len() != want.len() {
        return false;
    }
    given.iter().zip(want).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// Serve MCP's streamable HTTP transport at `/mcp` on `listener` (bound by the caller, on
/// loopback) until `shutdown` resolves. Every request must carry `Authorization: Bearer
/// TOKEN`; others get 401 and never reach the server. All sessions share the one desk.
pub async fn serve_http(
    server: McpServer,
    listener: tokio::net::TcpListener,
    token: String,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), String> {
    use http_body_util::BodyExt;
    use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
    use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};

    let service = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let token = Arc::new(token);
    let plain = |status: u16, text: &'static str| {
        let body = http_body_util::Full::new(bytes::Bytes::from_static(text.as_bytes()))
            .map_err(|never| match never {})
            .boxed();
        let mut r = hyper::Response::new(body);
        *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::UNAUTHORIZED);
        r.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static("text/plain"));
        r
    };
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // A client that vanished between connect and accept; keep serving.
                Err(e) => { tracing::warn!("MCP over HTTP: accept failed: {e}"); continue; }
            },
            _ = &mut shutdown => return Ok(()),
        };
        let service = service.clone();
        let token = token.clone();
        tokio::spawn(async move {
            let handler = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let mut service = service.clone();
                let token = token.clone();
                async move {
                    if req.uri().path() != "/mcp" {
                        return Ok::<_, std::convert::Infallible>(plain(404, "markpilot serves MCP at /mcp\n"));
                    }
                    let auth = req.headers().get(hyper::header::AUTHORIZATION).map(|v| v.as_bytes());
                    if !bearer_matches(auth, &token) {
                        let mut r = plain(
                            401,
                            "a valid Authorization: Bearer token is required (markpilot printed it at start)\n",
                        );
                        r.headers_mut().insert("www-authenticate", hyper::header::HeaderValue::from_static("Bearer"));
                        return Ok(r);
                    }
                    tower_service::Service::call(&mut service, req).await
                }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            if let Err(e) = hyper::server::conn::http1::Builder::new().serve_connection(io, handler).await {
                tracing::debug!("MCP over HTTP: connection ended: {e}");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bearer_token_matches_only_itself() {
        let t = new_token().unwrap();
        assert_eq!(t.len(), 64);
        assert_ne!(t, new_token().unwrap());
        assert!(bearer_matches(Some(format!("Bearer {t}").as_bytes()), &t));
        assert!(!bearer_matches(None, &t));
        assert!(!bearer_matches(Some(t.as_bytes()), &t), "no scheme");
        assert!(!bearer_matches(Some(format!("Basic {t}").as_bytes()), &t));
        assert!(!bearer_matches(Some(format!("Bearer {}", &t[..63]).as_bytes()), &t), "a prefix");
        let mut wrong = t.clone().into_bytes();
        wrong[10] ^= 1;
        assert!(!bearer_matches(Some([b"Bearer ".as_slice(), &wrong].concat().as_slice()), &t));
    }
}
