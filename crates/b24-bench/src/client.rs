//! The load generator's HTTP client: one keep-alive HTTP/1.1 connection per worker, driven with
//! hyper's low-level connection API so the client spends as little CPU as possible (it shares the
//! machine's cores with the server it measures).

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderValue, CONTENT_TYPE, HOST};
use hyper::Request;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// How requests reach the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    /// Plain HTTP/1.1 over loopback TCP.
    Http,
    /// HTTPS (TLS 1.3 via rustls) to the server's HTTPS listener, trusting the local CA the
    /// server created.
    Https,
}

/// Where the server answers and the webhook every call goes through.
#[derive(Clone)]
pub struct Endpoint {
    /// The address of the listener for this transport.
    pub addr: SocketAddr,
    /// `/rest/{user}/{code}/`: calls append the method name.
    pub webhook_path: String,
    /// TLS settings for HTTPS; `None` for plain HTTP.
    pub tls: Option<TlsConnector>,
}

/// Trusts exactly the certificate authority in a PEM file.
pub fn tls_connector(ca_pem: &std::path::Path) -> anyhow::Result<TlsConnector> {
    use rustls_pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_file_iter(ca_pem)
        .with_context(|| format!("could not read the CA certificate {}", ca_pem.display()))?
    {
        roots.add(cert?)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// One keep-alive connection.
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    host: HeaderValue,
    webhook_path: String,
}

/// A finished call.
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The body, unparsed.
    pub body: Bytes,
}

impl Connection {
    /// Connects (and for HTTPS completes the TLS handshake), then the HTTP/1.1 handshake.
    pub async fn open(endpoint: &Endpoint) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(endpoint.addr)
            .await
            .with_context(|| format!("could not connect to {}", endpoint.addr))?;
        // Requests are small and latency is what we measure: never wait for Nagle.
        stream.set_nodelay(true)?;
        let sender = match &endpoint.tls {
            None => handshake(stream).await?,
            Some(connector) => {
                let name = rustls_pki_types::ServerName::IpAddress(endpoint.addr.ip().into());
                let tls = connector
                    .connect(name, stream)
                    .await
                    .context("TLS handshake failed")?;
                handshake(tls).await?
            }
        };
        Ok(Self {
            sender,
            host: HeaderValue::from_str(&endpoint.addr.to_string())?,
            webhook_path: endpoint.webhook_path.clone(),
        })
    }

    /// POSTs a JSON body to `{webhook}{method}` and reads the whole answer.
    pub async fn call(&mut self, method: &str, json_body: String) -> anyhow::Result<Answer> {
        self.sender
            .ready()
            .await
            .context("the server closed the connection")?;
        let request = Request::post(format!("{}{method}", self.webhook_path))
            .header(HOST, self.host.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(Full::new(Bytes::from(json_body)))?;
        let response = self
            .sender
            .send_request(request)
            .await
            .with_context(|| format!("{method}: request failed"))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .with_context(|| format!("{method}: reading the answer failed"))?
            .to_bytes();
        Ok(Answer { status, body })
    }

    /// Calls an admin route (`/_b24{path}`) with the admin token and an optional JSON body.
    pub async fn admin(
        &mut self,
        method: hyper::Method,
        path: &str,
        token: &str,
        json_body: Option<String>,
    ) -> anyhow::Result<Answer> {
        self.sender
            .ready()
            .await
            .context("the server closed the connection")?;
        let request = Request::builder()
            .method(method)
            .uri(format!("/_b24{path}"))
            .header(HOST, self.host.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(hyper::header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Full::new(Bytes::from(json_body.unwrap_or_default())))?;
        let response = self
            .sender
            .send_request(request)
            .await
            .with_context(|| format!("{path}: request failed"))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .with_context(|| format!("{path}: reading the answer failed"))?
            .to_bytes();
        Ok(Answer { status, body })
    }

    /// Like [`Connection::call`], but any answer other than 200 is an error carrying the body.
    pub async fn call_ok(
        &mut self,
        method: &str,
        json_body: String,
    ) -> anyhow::Result<serde_json::Value> {
        let answer = self.call(method, json_body).await?;
        let text = String::from_utf8_lossy(&answer.body);
        anyhow::ensure!(
            answer.status == 200,
            "{method} answered {}: {text}",
            answer.status
        );
        serde_json::from_slice(&answer.body)
            .with_context(|| format!("{method} answered with something that is not JSON: {text}"))
    }
}

/// The HTTP/1.1 handshake over any byte stream; the connection is driven by a task of its own,
/// which ends when the server closes the connection or the sender is dropped.
async fn handshake<IO>(io: IO) -> anyhow::Result<SendRequest<Full<Bytes>>>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .context("HTTP handshake failed")?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}
