//! The client auditkit builds, over real TLS on 127.0.0.1: which HTTP version the handshake
//! negotiates, and which certificates it trusts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use auditkit_runtime::{CertificateDer, HttpClient, http_client_builder_with_roots};
use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::PrivateKeyDer;
use tokio::net::TcpListener;

/// A TLS server on 127.0.0.1 (certificate for `localhost`) that offers `h2` and `http/1.1`,
/// as Graph and Adobe do, and answers every request with the HTTP version it saw and the
/// protocol the TLS handshake agreed (ALPN), or `none`.
async fn tls_server() -> (SocketAddr, CertificateDer<'static>) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let certificate = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certificate.clone()], key)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake: nothing to serve.
                let Ok(stream) = acceptor.accept(stream).await else {
                    return;
                };
                let alpn = stream
                    .get_ref()
                    .1
                    .alpn_protocol()
                    .map_or("none".to_owned(), |p| {
                        String::from_utf8_lossy(p).into_owned()
                    });
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let seen = format!("{:?} {alpn}", request.version());
                    async move {
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(seen))))
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, certificate)
}

fn client(addr: SocketAddr, roots: Vec<CertificateDer<'static>>) -> HttpClient {
    let builder = http_client_builder_with_roots(roots)
        .unwrap()
        .resolve("localhost", addr);
    HttpClient::from_builder(builder).unwrap()
}

#[tokio::test]
async fn the_http2_feature_negotiates_http2_over_tls_and_http1_without_it() {
    let (addr, certificate) = tls_server().await;
    let client = client(addr, vec![certificate]);
    let url = format!(
        "https://localhost:{}/v1.0/deviceManagement/auditEvents",
        addr.port()
    );

    let response = client.reqwest().get(&url).send().await.unwrap();

    // Without ALPN the server would speak HTTP/1.1 too: the agreed protocol tells them apart.
    let (expected, alpn) = if cfg!(feature = "http2") {
        (reqwest::Version::HTTP_2, "h2")
    } else {
        (reqwest::Version::HTTP_11, "http/1.1")
    };
    assert_eq!(response.version(), expected);
    assert_eq!(
        response.text().await.unwrap(),
        format!("{expected:?} {alpn}")
    );
}

#[tokio::test]
async fn a_certificate_outside_the_trusted_roots_is_refused() {
    let (addr, _) = tls_server().await;
    let client = client(addr, Vec::new());
    let url = format!("https://localhost:{}/", addr.port());

    let error = client.reqwest().get(&url).send().await.unwrap_err();

    assert!(error.is_connect(), "{error:?}");
}

#[test]
fn an_extra_root_that_is_no_certificate_is_an_error_not_ignored() {
    let garbage = CertificateDer::from(b"not a certificate".to_vec());

    let error = http_client_builder_with_roots(vec![garbage]).unwrap_err();

    assert!(
        matches!(error, auditkit_runtime::Error::InvalidRequest(ref why) if why.starts_with("cannot set up TLS")),
        "{error:?}"
    );
}
