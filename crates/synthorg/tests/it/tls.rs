//! PostgreSQL over TLS: with `sslmode=require` the store connects over TLS and verifies the
//! server's certificate against `database.ca_file`; an unknown issuer is refused at start.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::pg::PrivatePostgres;
use crate::{BIN, Client, Server, temp_dir};

/// A CA and a server certificate for `localhost` / 127.0.0.1 it signed, as PEM.
fn test_pki() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

#[test]
#[cfg_attr(not(pg_tests), ignore = "no PostgreSQL: SYNTHORG_TEST_PG_URL was not set when the tests were built")]
fn postgres_over_tls_verifies_the_server() {
    let (ca, cert, key) = test_pki();
    let pg = PrivatePostgres::start_with(|data| {
        std::fs::write(data.join("server.crt"), &cert).unwrap();
        std::fs::write(data.join("server.key"), &key).unwrap();
        std::fs::set_permissions(data.join("server.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut conf = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
        conf.push_str("\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
        std::fs::write(data.join("postgresql.conf"), conf).unwrap();
    });
    let (dir, data) = temp_dir();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca).unwrap();
    let url = format!("{}?sslmode=require", pg.url().replace("127.0.0.1", "localhost"));

    let ca_path = ca_file.display().to_string();
    let server = Server::start_with_env(
        &data,
        &[],
        &[("SYNTHORG_DATABASE__URL", &url), ("SYNTHORG_DATABASE__CA_FILE", &ca_path)],
    );
    let client = Client::new(&server.base, &Server::bootstrap_key(&data));
    assert_eq!(client.get("/health/ready").0, 200);
    assert_eq!(client.post("/agents", &serde_json::json!({"name": "ada", "role": "developer"})).0, 201);
    // The server sees synthorg's connections as TLS.
    let mut admin = postgres::Client::connect(&pg.url(), postgres::NoTls).unwrap();
    let tls: i64 = admin
        .query_one(
            "SELECT COUNT(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) \
             WHERE ssl AND application_name = 'synthorg'",
            &[],
        )
        .unwrap()
        .get(0);
    let plain: i64 = admin
        .query_one(
            "SELECT COUNT(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) \
             WHERE NOT ssl AND application_name = 'synthorg'",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(tls >= 1 && plain == 0, "synthorg's connections: {tls} over TLS, {plain} in the clear");
    drop(server);

    // Without the CA the certificate cannot be verified: the start fails and says why.
    let (_dir2, data2) = temp_dir();
    let out = Command::new(BIN)
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(&data2)
        .env("SYNTHORG_DATABASE__URL", &url)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(69), "{stderr}");
    assert!(stderr.contains("certificate"), "{stderr}");
}
