//! https with the generated certificate.

use std::io;
use std::net::TcpStream;
use std::sync::Arc;

use km_testkit::{TestServer, GIF};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::client::{connect, Client, WAIT};

fn client_config(roots: RootCertStore) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

fn trusting(server: &TestServer) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    let der = CertificateDer::from(server.ca_cert_der().unwrap().to_vec());
    roots.add(der).unwrap();
    client_config(roots)
}

fn tls_client(
    server: &TestServer,
    config: Arc<ClientConfig>,
    name: &str,
) -> Client<StreamOwned<ClientConnection, TcpStream>> {
    let name = ServerName::try_from(name.to_owned()).unwrap();
    let conn = ClientConnection::new(config, name).unwrap();
    Client::new(StreamOwned::new(conn, connect(server.addr())))
}

#[test]
fn https_works_when_trusting_the_ca() {
    let server = TestServer::builder().https().start().unwrap();
    assert!(server.is_https());
    assert_eq!(server.base_url(), format!("https://{}", server.addr()));
    let pem = server.ca_cert_pem().unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(pem.trim_end().ends_with("-----END CERTIFICATE-----"));

    let config = trusting(&server);
    for name in ["localhost", "127.0.0.1"] {
        let mut client = tls_client(&server, Arc::clone(&config), name);
        // Two requests on one TLS connection.
        for _ in 0..2 {
            let response = client.get("/e?_k=key&_n=Secure%20Event").unwrap();
            assert_eq!(response.status, 200);
            assert_eq!(response.header("content-type"), Some("image/gif"));
            assert_eq!(response.body, GIF);
        }
        let negotiated = client.stream().conn.alpn_protocol().map(<[u8]>::to_vec);
        assert!(matches!(negotiated.as_deref(), None | Some(b"http/1.1")));
    }
    assert!(server.wait_for_requests(4, WAIT));
    let requests = server.requests();
    assert_eq!(requests[0].pair("_n"), Some("Secure Event"));
    assert_eq!(requests[1].connection, requests[0].connection);
    assert_eq!(server.connections(), 2);
}

#[test]
fn https_offering_h2_and_http1_settles_on_http1() {
    let server = TestServer::builder().https().start().unwrap();
    let mut config = (*trusting(&server)).clone();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let mut client = tls_client(&server, Arc::new(config), "localhost");
    assert_eq!(client.get("/e").unwrap().status, 200);
    assert_eq!(client.stream().conn.alpn_protocol(), Some(&b"http/1.1"[..]));
}

fn assert_handshake_fails(server: &TestServer, config: Arc<ClientConfig>) {
    let mut client = tls_client(server, config, "localhost");
    let err = client.get("/e").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err:?}");
    assert!(err.to_string().contains("certificate"), "{err}");
}

#[test]
fn https_fails_without_trusting_the_ca() {
    let server = TestServer::builder().https().start().unwrap();
    assert_handshake_fails(&server, client_config(RootCertStore::empty()));

    // Another server's CA is no good either: each server has its own.
    let other = TestServer::builder().https().start().unwrap();
    assert_ne!(other.ca_cert_der(), server.ca_cert_der());
    assert_handshake_fails(&server, trusting(&other));

    // Nothing was recorded, but the connections were accepted, and the
    // server still works.
    assert_eq!(server.request_count(), 0);
    assert_eq!(server.connections(), 2);
    let mut client = tls_client(&server, trusting(&server), "localhost");
    assert_eq!(client.get("/e").unwrap().status, 200);
}

#[test]
fn wrong_name_is_rejected() {
    let server = TestServer::builder().https().start().unwrap();
    let mut client = tls_client(&server, trusting(&server), "trk.example");
    let err = client.get("/e").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err:?}");
}

#[test]
fn plain_http_to_an_https_server_does_not_kill_it() {
    let server = TestServer::builder().https().start().unwrap();
    let mut plain = Client::tcp(server.addr());
    plain
        .send_raw(b"GET /e HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert!(plain.read_to_close(64 * 1024).len() < 1024);
    let mut client = tls_client(&server, trusting(&server), "localhost");
    assert_eq!(client.get("/e").unwrap().status, 200);
}

#[test]
fn http_server_has_no_certificate() {
    let server = TestServer::start();
    assert!(!server.is_https());
    assert_eq!(server.ca_cert_pem(), None);
    assert_eq!(server.ca_cert_der(), None);
    assert!(server.base_url().starts_with("http://127.0.0.1:"));
}
