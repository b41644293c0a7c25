//! HTTPS with a local certificate authority that the server creates itself, so the official SDKs
//! (which speak only HTTPS) can reach it: on first start a CA and a server certificate for
//! localhost, *.localhost (each portal's host), 127.0.0.1 and ::1 (plus `--tls-name`s) are written to `DATA_DIR/tls/`; clients trust
//! `ca.pem`. A certificate given with `--tls-cert` / `--tls-key` is used instead.

use anyhow::{anyhow, Context as _};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Names every generated server certificate covers: `*.localhost` is every portal's host
/// (`{name}.localhost`).
pub const DEFAULT_NAMES: [&str; 4] = ["localhost", "*.localhost", "127.0.0.1", "::1"];

/// Where the certificate files are.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The local CA's certificate (what clients trust); `None` for a given certificate.
    pub ca_cert: Option<PathBuf>,
    /// The server certificate chain.
    pub cert: PathBuf,
    /// The server's private key.
    pub key: PathBuf,
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    fs::write(path, contents).with_context(|| format!("could not write {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// Makes sure `data_dir/tls` holds a CA and a server certificate for `names` (plus the defaults),
/// creating the CA once and re-issuing the server certificate when the names change.
pub fn ensure_local_ca(data_dir: &Path, extra_names: &[String]) -> anyhow::Result<TlsFiles> {
    let dir = data_dir.join("tls");
    fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    let ca_cert = dir.join("ca.pem");
    let ca_key = dir.join("ca-key.pem");
    let cert = dir.join("server.pem");
    let key = dir.join("server-key.pem");
    let names_file = dir.join("server-names.txt");

    if !ca_cert.exists() || !ca_key.exists() {
        let key_pair = KeyPair::generate().context("could not generate the CA key")?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, "b24-server local CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let certificate = params.self_signed(&key_pair)?;
        write_private(&ca_key, &key_pair.serialize_pem())?;
        fs::write(&ca_cert, certificate.pem())?;
        let _ = fs::remove_file(&names_file);
    }

    let mut names: Vec<String> = DEFAULT_NAMES.iter().map(|n| n.to_string()).collect();
    for name in extra_names {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    let wanted = names.join("\n");
    let current = fs::read_to_string(&names_file).unwrap_or_default();
    if current != wanted || !cert.exists() || !key.exists() {
        let ca_key_pair = KeyPair::from_pem(&fs::read_to_string(&ca_key)?)
            .context("could not read the CA key")?;
        let issuer = Issuer::from_ca_cert_pem(&fs::read_to_string(&ca_cert)?, ca_key_pair)
            .map_err(|e| anyhow!("could not read the CA certificate: {e}"))?;
        let mut params = CertificateParams::new(names.clone())
            .map_err(|e| anyhow!("invalid --tls-name: {e}"))?;
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let key_pair = KeyPair::generate()?;
        let certificate = params.signed_by(&key_pair, &issuer)?;
        write_private(&key, &key_pair.serialize_pem())?;
        fs::write(&cert, certificate.pem())?;
        fs::write(&names_file, wanted)?;
    }
    Ok(TlsFiles {
        ca_cert: Some(ca_cert),
        cert,
        key,
    })
}

/// A rustls server configuration (HTTP/1.1) from PEM files.
pub fn server_config(files: &TlsFiles) -> anyhow::Result<Arc<ServerConfig>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .with_context(|| format!("could not read {}", files.cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("{} is not a PEM certificate chain", files.cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .with_context(|| format!("could not read a private key from {}", files.key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the certificate and key do not form a usable pair")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
