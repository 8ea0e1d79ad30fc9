//! How every command reaches the server: the broker's gRPC client and the registry's HTTP
//! client, both carrying the global `--token` and, for `https://` URLs, trusting `--ca-cert`
//! and presenting `--client-cert`/`--client-key` when given; and, for `runnel produce` and
//! `runnel consume` with `--kafka`, a Kafka cluster (librdkafka) with the registry at
//! `--registry-url`.

use anyhow::Context;
use runnel_client::{Client, ClientOptions, KafkaConfig, TlsOptions};

use crate::Global;

/// A bearer token: kept out of `Debug` output, so it never lands in a log.
#[derive(Clone)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Secret, Self::Err> {
        Ok(Secret(s.trim().to_owned()))
    }
}

/// Where `runnel produce` and `runnel consume` send and read records: the Runnel broker at
/// `--url` (gRPC), or with `--kafka` any Kafka cluster, schemas from the registry at
/// `--registry-url` under TopicNameStrategy (`<topic>-value`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct KafkaTarget {
    /// Talk to this Kafka cluster (`host:port[,host:port...]`: Apache Kafka, Redpanda, a
    /// `runnel gateway`, Runnel's own Kafka listener) instead of the broker at --url; schemas
    /// come from the registry at --registry-url, subject `<topic>-value`.
    #[arg(long, value_name = "BOOTSTRAP")]
    pub kafka: Option<String>,
    /// A librdkafka setting for that cluster (security.protocol, sasl.mechanism,
    /// sasl.username, ssl.ca.location, ...), repeatable.
    #[arg(long = "kafka-property", value_name = "KEY=VALUE", requires = "kafka", value_parser = parse_property)]
    pub kafka_properties: Vec<(String, String)>,
}

/// `KEY=VALUE` of a `--kafka-property`.
pub fn parse_property(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got `{s}`")),
    }
}

impl Global {
    /// Connects to the broker at `--url`, or with `--kafka` to that Kafka cluster and the
    /// registry at `--registry-url` (sending `--token` to the registry; `--ca-cert` is trusted
    /// by both).
    pub async fn connect_to(&self, target: &KafkaTarget) -> anyhow::Result<Client> {
        let Some(bootstrap) = &target.kafka else {
            return self.connect().await;
        };
        let mut config = KafkaConfig::new(bootstrap, &self.registry_url);
        config.registry_token = self.token.as_ref().map(|t| t.0.clone());
        if let Some(ca) = &self.ca_cert {
            config.registry_ca_pem =
                Some(std::fs::read(ca).with_context(|| format!("cannot read {}", ca.display()))?);
            // The same authority for the cluster's TLS, unless a property names another.
            if !target.kafka_properties.iter().any(|(k, _)| k == "ssl.ca.location") {
                config = config.property("ssl.ca.location", ca.display().to_string());
            }
        }
        for (k, v) in &target.kafka_properties {
            config = config.property(k, v);
        }
        Client::connect_kafka(config).await.with_context(|| {
            format!("cannot use the Kafka cluster at {bootstrap} with the registry at {}", self.registry_url)
        })
    }

    /// The TLS settings from `--ca-cert`, `--client-cert` and `--client-key`.
    fn tls_options(&self) -> anyhow::Result<TlsOptions> {
        let mut tls = TlsOptions::default();
        if let Some(ca) = &self.ca_cert {
            tls = tls.with_ca_file(ca)?;
        }
        if let (Some(cert), Some(key)) = (&self.client_cert, &self.client_key) {
            tls = tls.with_identity_files(cert, key)?;
        }
        Ok(tls)
    }

    /// Connects to the broker at `--url` with the token and TLS settings.
    pub async fn connect(&self) -> anyhow::Result<Client> {
        let options = ClientOptions {
            token: self.token.as_ref().map(|t| t.0.clone()),
            tls: self.tls_options()?,
            ..ClientOptions::default()
        };
        Client::connect_with(self.url.clone(), options)
            .await
            .with_context(|| format!("cannot connect to the broker at {}", self.url))
    }

    /// An HTTP client for the registry at `--registry-url`, sending the token with every
    /// request and trusting `--ca-cert`.
    pub fn registry_http(&self) -> anyhow::Result<reqwest::Client> {
        let mut builder = reqwest::Client::builder().use_rustls_tls();
        if let Some(token) = &self.token {
            let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.0))
                .context("the token holds characters a header cannot carry")?;
            value.set_sensitive(true);
            let mut headers = reqwest::header::HeaderMap::new();
            headers.insert(reqwest::header::AUTHORIZATION, value);
            builder = builder.default_headers(headers);
        }
        if let Some(ca) = &self.ca_cert {
            let pem = std::fs::read(ca).with_context(|| format!("cannot read {}", ca.display()))?;
            let cert = reqwest::Certificate::from_pem(&pem)
                .with_context(|| format!("{} is not a PEM certificate", ca.display()))?;
            builder = builder.add_root_certificate(cert);
        }
        if let (Some(cert), Some(key)) = (&self.client_cert, &self.client_key) {
            let mut pem = std::fs::read(cert).with_context(|| format!("cannot read {}", cert.display()))?;
            pem.push(b'\n');
            pem.extend(std::fs::read(key).with_context(|| format!("cannot read {}", key.display()))?);
            let identity = reqwest::Identity::from_pem(&pem).context("the client certificate or key")?;
            builder = builder.identity(identity);
        }
        builder.build().context("cannot set up the HTTP client")
    }
}
