//! What the other two apps do, with no SDK: one GET of an audit event, decoded into a
//! hand-written struct.

#[derive(serde::Deserialize, Debug)]
#[allow(dead_code)] // read through Debug only
struct AuditEvent {
    id: String,
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .build()
        .expect("a client with the default settings");
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:9/deviceManagement/auditEvents/1".into());
    match client.get(url).send().await {
        Ok(answer) => println!("{:?}", answer.json::<AuditEvent>().await),
        Err(error) => println!("{error}"),
    }
}
