//! PayPal webhook signing for tests: a key and certificates generated when a test process first
//! needs them, served over HTTP on loopback the way PayPal serves `PAYPAL-CERT-URL`, and the
//! transmission headers PayPal sends, signed with that key.
//!
//! The server is a plain thread (not a task of one test's runtime), so every test of the process
//! shares it. Served: `/v1/notifications/certs/CERT-valid` (CN `messageverificationcerts.paypal.com`,
//! valid now), `CERT-expired` (same key, expired yesterday), `CERT-not-paypal` (same key, issued to
//! `example.com`).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use rsa::RsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use sha2::Sha256;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::der::EncodePem;
use x509_cert::der::pem::LineEnding;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::{Time, Validity};

/// The webhook id test apps are configured with (`PAYPAL_WEBHOOK_ID`).
pub const TEST_PAYPAL_WEBHOOK_ID: &str = "WH-TEST-8PT597110X687430LKGECATA";

/// Which certificate a delivery names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cert {
    Valid,
    Expired,
    NotPaypal,
}

impl Cert {
    fn name(self) -> &'static str {
        match self {
            Cert::Valid => "CERT-valid",
            Cert::Expired => "CERT-expired",
            Cert::NotPaypal => "CERT-not-paypal",
        }
    }
}

pub struct PaypalCerts {
    base: String,
}

/// The key and the served certificates, made on first use (RSA key generation is the slow part,
/// and most test processes never need it).
fn material() -> &'static (RsaPrivateKey, Vec<(Cert, String)>) {
    static MATERIAL: OnceLock<(RsaPrivateKey, Vec<(Cert, String)>)> = OnceLock::new();
    MATERIAL.get_or_init(|| {
        let key = RsaPrivateKey::new(&mut rand_core::OsRng, 2048).expect("RSA key");
        let now = SystemTime::now();
        let day = Duration::from_secs(86_400);
        let paypal = "messageverificationcerts.paypal.com";
        let served = vec![
            (Cert::Valid, certificate(&key, paypal, now - day, now + 365 * day)),
            (Cert::Expired, certificate(&key, paypal, now - 30 * day, now - day)),
            (Cert::NotPaypal, certificate(&key, "example.com", now - day, now + 365 * day)),
        ];
        (key, served)
    })
}

fn certificate(key: &RsaPrivateKey, cn: &str, not_before: SystemTime, not_after: SystemTime) -> String {
    let signer = SigningKey::<Sha256>::new(key.clone());
    let spki = SubjectPublicKeyInfoOwned::from_key(key.to_public_key()).expect("spki");
    let validity = Validity {
        not_before: Time::try_from(not_before).expect("time"),
        not_after: Time::try_from(not_after).expect("time"),
    };
    let subject = Name::from_str(&format!("CN={cn},OU=CDN Support,O=PayPal\\, Inc.,L=San Jose,ST=California,C=US"))
        .expect("name");
    let builder = CertificateBuilder::new(Profile::Root, SerialNumber::from(7u32), validity, subject, spki, &signer)
        .expect("builder");
    let cert = builder.build::<rsa::pkcs1v15::Signature>().expect("certificate");
    cert.to_pem(LineEnding::LF).expect("pem")
}

/// The process's PayPal certificate server (started on first use).
pub fn certs() -> &'static PaypalCerts {
    static CERTS: OnceLock<PaypalCerts> = OnceLock::new();
    CERTS.get_or_init(|| {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind");
        let base = format!("http://{}/", listener.local_addr().expect("addr"));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut request_line = String::new();
                let mut reader = BufReader::new(&stream);
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                // Drain the headers.
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let path = request_line.split_whitespace().nth(1).unwrap_or("");
                let pem = material().1.iter().find(|(c, _)| path == format!("/v1/notifications/certs/{}", c.name()));
                let response = match pem {
                    Some((_, pem)) => format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/x-pem-file\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{pem}",
                        pem.len()
                    ),
                    None => "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned(),
                };
                let _ = stream.write_all(response.as_bytes());
            }
        });
        PaypalCerts { base }
    })
}

impl PaypalCerts {
    /// The URL prefix test apps may fetch certificates from (`PAYPAL_CERT_URL_TEST_BASE`).
    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn cert_url(&self, cert: Cert) -> String {
        format!("{}v1/notifications/certs/{}", self.base, cert.name())
    }

    /// The headers PayPal sends with `body`: signed for `webhook_id` at `time` (RFC 3339) with
    /// the certificate `cert`.
    pub fn headers(&self, body: &[u8], webhook_id: &str, time: &str, cert_url: &str) -> Vec<(&'static str, String)> {
        let transmission_id = uuid::Uuid::new_v4().to_string();
        let message = providers::paypal::webhook::signed_message(&transmission_id, time, webhook_id, body);
        let signature = SigningKey::<Sha256>::new(material().0.clone()).sign(message.as_bytes());
        vec![
            ("paypal-transmission-id", transmission_id),
            ("paypal-transmission-time", time.to_owned()),
            ("paypal-transmission-sig", base64::engine::general_purpose::STANDARD.encode(signature.to_bytes())),
            ("paypal-cert-url", cert_url.to_owned()),
            ("paypal-auth-algo", "SHA256withRSA".to_owned()),
        ]
    }

    /// What PayPal sends now for `body` to the test webhook, with the valid certificate.
    pub fn signed(&self, body: &[u8]) -> Vec<(&'static str, String)> {
        self.headers(body, TEST_PAYPAL_WEBHOOK_ID, &now_rfc3339(), &self.cert_url(Cert::Valid))
    }
}

/// A PayPal example object from `tests/fixtures/paypal` (PayPal's published specs).
pub fn fixture(name: &str) -> serde_json::Value {
    crate::fixture_json("paypal", name)
}

/// A webhook body: PayPal's example event envelope with `id`, `event_type`, created now, and
/// `resource`.
pub fn webhook(id: &str, event_type: &str, resource: serde_json::Value) -> String {
    let mut e = fixture("webhook_event");
    e["id"] = serde_json::json!(id);
    e["event_type"] = serde_json::json!(event_type);
    e["create_time"] = serde_json::json!(now_rfc3339());
    e["resource"] = resource;
    e.to_string()
}

/// Now as PayPal writes transmission times.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Test app settings: the test webhook id, certificates from [`certs`].
pub fn settings() -> service_core::paypal::PaypalSettings {
    service_core::paypal::PaypalSettings {
        paypal_client_id: None,
        paypal_client_secret: None,
        paypal_api_base: None,
        paypal_webhook_id: Some(TEST_PAYPAL_WEBHOOK_ID.to_owned()),
        paypal_cert_url_test_base: Some(certs().base().to_owned()),
        paypal_webhook_tolerance_secs: providers::paypal::webhook::DEFAULT_TOLERANCE_SECS,
    }
}
