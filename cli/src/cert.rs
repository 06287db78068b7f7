//! The demo edge's TLS certificate (`jwt-relay-cli cert`): a throwaway certificate authority and
//! one leaf certificate it signs, for `localhost` and `127.0.0.1` by default. Envoy's edge
//! listener serves the leaf (its `DownstreamTlsContext` names [`CERT_FILE`] and [`KEY_FILE`]);
//! clients trust [`CA_FILE`] (`curl --cacert`), and only for this demo.
//!
//! The CA's private key is never written: it signs the leaf and is dropped, so nobody can issue
//! another certificate under the CA a client was told to trust. The leaf's key is written with
//! mode 0600. Keys are ECDSA P-256; the certificates are valid from an hour ago for
//! [`VALIDITY_DAYS`] days. Nothing here is for production: bring your own certificate there
//! (README, "HTTPS at the edge").

use std::fs;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

/// The CA certificate (PEM): what clients trust.
pub const CA_FILE: &str = "ca.crt";
/// The edge's certificate (PEM), signed by the CA.
pub const CERT_FILE: &str = "edge.crt";
/// The edge certificate's private key (PKCS#8 PEM, mode 0600).
pub const KEY_FILE: &str = "edge.key";
/// Where the committed Envoy configs in `envoy/` look for the three files, relative to the
/// repository root Envoy runs in: `make cert` (which `make run` and `make validate` run) and
/// `make demo` write them there. Tests and the demo on free ports render the configs with a
/// directory of their own ([`crate::demo::run::render_config`]).
pub const DEMO_DIR: &str = "target/demo-tls";
/// The names the leaf certificate is for unless told otherwise.
pub const DEFAULT_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];
/// How long both certificates are valid.
pub const VALIDITY_DAYS: i64 = 30;

/// The files [`write`] made.
#[derive(Debug, Clone)]
pub struct EdgeCert {
    pub dir: PathBuf,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The names (DNS names and IP addresses) the leaf certificate is for.
    pub names: Vec<String>,
    pub not_after: OffsetDateTime,
}

/// Makes a fresh CA and a leaf certificate for `names` (each a DNS name or an IP address),
/// and writes [`CA_FILE`], [`CERT_FILE`] and [`KEY_FILE`] into `dir` (created if missing;
/// existing files are replaced).
pub fn write(dir: &Path, names: &[String]) -> Result<EdgeCert> {
    if names.is_empty() {
        bail!("a certificate needs at least one name");
    }
    let now = OffsetDateTime::from_unix_timestamp(unix_now())?;
    let not_before = now - Duration::hours(1);
    let not_after = now + Duration::days(VALIDITY_DAYS);

    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name = DistinguishedName::new();
    ca.distinguished_name
        .push(DnType::CommonName, "jwt-relay demo CA (throwaway)");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = not_before;
    ca.not_after = not_after;
    let ca_key = KeyPair::generate().context("generate the CA key")?;
    let ca_cert = ca.self_signed(&ca_key).context("sign the CA certificate")?;
    let issuer = Issuer::new(ca, ca_key);

    let mut leaf = CertificateParams::new(names.to_vec())
        .with_context(|| format!("not DNS names or IP addresses: {names:?}"))?;
    leaf.distinguished_name = DistinguishedName::new();
    leaf.distinguished_name
        .push(DnType::CommonName, names[0].as_str());
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    leaf.not_before = not_before;
    leaf.not_after = not_after;
    let leaf_key = KeyPair::generate().context("generate the edge key")?;
    let leaf_cert = leaf
        .signed_by(&leaf_key, &issuer)
        .context("sign the edge certificate")?;

    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let written = EdgeCert {
        dir: dir.to_path_buf(),
        ca: dir.join(CA_FILE),
        cert: dir.join(CERT_FILE),
        key: dir.join(KEY_FILE),
        names: names.to_vec(),
        not_after,
    };
    write_private(&written.key, &leaf_key.serialize_pem())
        .with_context(|| format!("cannot write {}", written.key.display()))?;
    fs::write(&written.cert, leaf_cert.pem())
        .with_context(|| format!("cannot write {}", written.cert.display()))?;
    fs::write(&written.ca, ca_cert.pem())
        .with_context(|| format!("cannot write {}", written.ca.display()))?;
    Ok(written)
}

/// [`write`] for [`DEFAULT_NAMES`].
pub fn write_default(dir: &Path) -> Result<EdgeCert> {
    let names: Vec<String> = DEFAULT_NAMES.iter().map(|n| (*n).to_owned()).collect();
    write(dir, &names)
}

/// Whether `name` would go into the certificate as an IP address (else as a DNS name).
pub fn is_ip(name: &str) -> bool {
    name.parse::<IpAddr>().is_ok()
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Private keys are created readable by the owner only (replacing any file there).
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let _ = fs::remove_file(path);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}

/// An HTTP client (as [`crate::envoy::agent`]: 4xx/5xx are answers) whose only trusted root for
/// `https://` is the CA certificate in `ca_pem` (PEM; several certificates are all trusted).
pub fn agent_trusting(ca_pem: &[u8]) -> Result<ureq::Agent> {
    use ureq::tls::{Certificate, RootCerts, TlsConfig};
    let roots = pem_blocks(ca_pem)
        .into_iter()
        .map(|block| Certificate::from_pem(block.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
        .context("not a PEM certificate")?;
    if roots.is_empty() {
        bail!("no PEM certificate to trust");
    }
    Ok(ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(10)))
        .tls_config(
            TlsConfig::builder()
                .root_certs(RootCerts::Specific(std::sync::Arc::new(roots)))
                .build(),
        )
        .build()
        .into())
}

/// Each `-----BEGIN CERTIFICATE-----` ... `-----END CERTIFICATE-----` block of `pem`.
fn pem_blocks(pem: &[u8]) -> Vec<String> {
    const END: &str = "-----END CERTIFICATE-----";
    let text = String::from_utf8_lossy(pem);
    let mut blocks = Vec::new();
    let mut rest = text.as_ref();
    while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
        let Some(end) = rest[start..].find(END) else {
            break;
        };
        let end = start + end + END.len();
        blocks.push(format!("{}\n", &rest[start..end]));
        rest = &rest[end..];
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("jwt-relay-cert-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn writes_a_ca_a_leaf_and_a_private_key() {
        let dir = scratch("write");
        let cert = write_default(&dir).unwrap();
        let ca = fs::read_to_string(&cert.ca).unwrap();
        let leaf = fs::read_to_string(&cert.cert).unwrap();
        let key = fs::read_to_string(&cert.key).unwrap();
        assert_eq!(pem_blocks(ca.as_bytes()).len(), 1);
        assert_eq!(pem_blocks(leaf.as_bytes()).len(), 1);
        assert_ne!(ca, leaf);
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"), "{key}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&cert.key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A second run replaces every file: a new CA, a new key.
        let again = write_default(&dir).unwrap();
        assert_ne!(fs::read_to_string(&again.ca).unwrap(), ca);
        assert_ne!(fs::read_to_string(&again.key).unwrap(), key);
        assert!(agent_trusting(ca.as_bytes()).is_ok());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn refuses_no_names_and_bad_names() {
        let dir = scratch("refuse");
        assert!(write(&dir, &[]).is_err());
        assert!(write(&dir, &["caf\u{e9}.example".to_owned()]).is_err());
        assert!(agent_trusting(b"no certificate here").is_err());
        assert!(is_ip("127.0.0.1") && is_ip("::1") && !is_ip("localhost"));
        let _ = fs::remove_dir_all(&dir);
    }
}
