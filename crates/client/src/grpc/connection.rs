//! The gRPC connection to a Runnel broker: one multiplexed HTTP/2 channel,
//! shared by every producer, consumer and call made through it, with retries
//! and back-off for calls that fail because the broker is momentarily
//! unreachable. [`ClientOptions`] set it up.
//!
//! A bearer token ([`ClientOptions::token`]) rides on every call; an `https://` URL connects
//! with TLS ([`TlsOptions`]: the CA that signed the broker's certificate, and a client
//! certificate when the broker requires one).

use std::time::Duration;

use runnel_proto::v1::{
    admin_client::AdminClient, broker_client::BrokerClient, groups_client::GroupsClient,
    registry_client::RegistryClient, subscriptions_client::SubscriptionsClient,
    transactions_client::TransactionsClient,
};
use runnel_proto::MAX_MESSAGE_BYTES;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::error::{is_retryable_status, ClientError};

/// Connection settings; [`ClientOptions::default`] suits most uses.
#[derive(Clone)]
pub struct ClientOptions {
    /// How long to wait for the TCP/HTTP/2 connection to come up.
    pub connect_timeout: Duration,
    /// How long a unary call may retry a retryable failure before giving up.
    pub retry_timeout: Duration,
    /// The first back-off between retries; doubles up to [`max_backoff`](Self::max_backoff).
    pub initial_backoff: Duration,
    /// The largest back-off between retries.
    pub max_backoff: Duration,
    /// A bearer token (a JWT from `runnel token create`) sent with every call, for brokers
    /// with authentication on.
    pub token: Option<String>,
    /// TLS settings, used for `https://` URLs.
    pub tls: TlsOptions,
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("connect_timeout", &self.connect_timeout)
            .field("retry_timeout", &self.retry_timeout)
            .field("initial_backoff", &self.initial_backoff)
            .field("max_backoff", &self.max_backoff)
            // A token is a credential: never in logs.
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("tls", &self.tls)
            .finish()
    }
}

/// TLS settings for `https://` broker URLs (PEM).
#[derive(Clone, Default)]
pub struct TlsOptions {
    /// The CA certificate(s) the broker's certificate must chain to; `None`: the system's roots.
    pub ca_cert_pem: Option<Vec<u8>>,
    /// A client certificate chain and its key, for brokers that require client certificates.
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsOptions")
            .field("ca_cert", &self.ca_cert_pem.is_some())
            .field("client_identity", &self.identity.is_some())
            .finish()
    }
}

impl TlsOptions {
    /// Reads a CA certificate file (PEM).
    pub fn with_ca_file(mut self, path: impl AsRef<std::path::Path>) -> Result<TlsOptions, ClientError> {
        self.ca_cert_pem = Some(read_pem(path.as_ref())?);
        Ok(self)
    }

    /// Reads a client certificate and key (PEM).
    pub fn with_identity_files(
        mut self,
        cert: impl AsRef<std::path::Path>,
        key: impl AsRef<std::path::Path>,
    ) -> Result<TlsOptions, ClientError> {
        self.identity = Some((read_pem(cert.as_ref())?, read_pem(key.as_ref())?));
        Ok(self)
    }

    fn tonic(&self) -> tonic::transport::ClientTlsConfig {
        let mut tls = tonic::transport::ClientTlsConfig::new();
        tls = match &self.ca_cert_pem {
            Some(ca) => tls.ca_certificate(tonic::transport::Certificate::from_pem(ca)),
            None => tls.with_native_roots(),
        };
        if let Some((cert, key)) = &self.identity {
            tls = tls.identity(tonic::transport::Identity::from_pem(cert, key));
        }
        tls
    }
}

fn read_pem(path: &std::path::Path) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path)
        .map_err(|e| ClientError::InvalidArgument(format!("cannot read {}: {e}", path.display())))
}

/// Adds the bearer token, if any, to every call.
#[derive(Clone, Default)]
pub(crate) struct Bearer(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl Bearer {
    fn new(token: Option<&str>) -> Result<Bearer, ClientError> {
        let Some(token) = token else { return Ok(Bearer(None)) };
        let mut value = format!("Bearer {}", token.trim())
            .parse::<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>()
            .map_err(|_| {
                ClientError::InvalidArgument("the token holds characters a header cannot carry".into())
            })?;
        // Keeps it out of HTTP/2 header compression tables.
        value.set_sensitive(true);
        Ok(Bearer(Some(value)))
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// The channel every service client runs over: the connection plus the bearer token.
pub(crate) type GrpcChannel = InterceptedService<Channel, Bearer>;

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connect_timeout: Duration::from_secs(5),
            retry_timeout: Duration::from_secs(30),
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_secs(1),
            token: None,
            tls: TlsOptions::default(),
        }
    }
}

/// A gRPC connection to a broker. Cheap to clone: clones share the channel.
#[derive(Clone)]
pub(crate) struct Connection {
    channel: Channel,
    bearer: Bearer,
    options: ClientOptions,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("options", &self.options).finish_non_exhaustive()
    }
}

impl Connection {
    /// Connects to the broker at `url`.
    ///
    /// The connection is made now, so that a wrong address fails here; once
    /// up, it reconnects by itself when it breaks, and calls retry with
    /// back-off while it does.
    pub(crate) async fn connect(url: &str, options: ClientOptions) -> Result<Connection, ClientError> {
        let endpoint = Endpoint::from_shared(url.to_owned())
            .map_err(|source| ClientError::Connect { url: url.to_owned(), source })?
            .connect_timeout(options.connect_timeout)
            .tcp_nodelay(true)
            // Big windows: a fetch stream or a pipelined produce stream carries
            // megabytes in flight; the 64 KiB HTTP/2 default would stall them.
            .initial_stream_window_size(8 * 1024 * 1024)
            .initial_connection_window_size(32 * 1024 * 1024)
            .http2_keep_alive_interval(Duration::from_secs(20))
            .keep_alive_while_idle(true);
        let endpoint = if url.starts_with("https://") {
            endpoint
                .tls_config(options.tls.tonic())
                .map_err(|source| ClientError::Connect { url: url.to_owned(), source })?
        } else {
            endpoint
        };
        let bearer = Bearer::new(options.token.as_deref())?;
        let channel = connect_with_retry(&endpoint, &options)
            .await
            .map_err(|source| ClientError::Connect { url: url.to_owned(), source })?;
        Ok(Connection { channel, bearer, options })
    }

    /// A connection to no broker, for a client of another transport: a call
    /// meets a refused connection (port 0) and, with no retry time, fails at once.
    #[cfg(feature = "kafka")]
    pub(crate) fn nowhere() -> Connection {
        let channel = Endpoint::from_static("http://127.0.0.1:0").connect_lazy();
        let options = ClientOptions { retry_timeout: Duration::ZERO, ..ClientOptions::default() };
        Connection { channel, bearer: Bearer::default(), options }
    }

    /// The settings it was made with.
    pub(crate) fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// The channel with the bearer token, for any service client
    /// (`FooClient::new(connection.channel())`).
    pub(crate) fn channel(&self) -> GrpcChannel {
        InterceptedService::new(self.channel.clone(), self.bearer.clone())
    }

    pub(crate) fn admin(&self) -> AdminClient<GrpcChannel> {
        AdminClient::with_interceptor(self.channel.clone(), self.bearer.clone())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }

    pub(crate) fn broker(&self) -> BrokerClient<GrpcChannel> {
        BrokerClient::with_interceptor(self.channel.clone(), self.bearer.clone())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }

    pub(crate) fn transactions(&self) -> TransactionsClient<GrpcChannel> {
        TransactionsClient::with_interceptor(self.channel.clone(), self.bearer.clone())
    }

    pub(crate) fn groups(&self) -> GroupsClient<GrpcChannel> {
        GroupsClient::with_interceptor(self.channel.clone(), self.bearer.clone())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }

    pub(crate) fn subscriptions(&self) -> SubscriptionsClient<GrpcChannel> {
        SubscriptionsClient::with_interceptor(self.channel.clone(), self.bearer.clone())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }

    pub(crate) fn registry(&self) -> RegistryClient<GrpcChannel> {
        RegistryClient::with_interceptor(self.channel.clone(), self.bearer.clone())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }

    /// Runs a unary call, retrying retryable failures (the broker restarting,
    /// the connection dropping) with exponential back-off until
    /// `retry_timeout`. Only idempotent calls go through here.
    pub(crate) async fn retry<T, F, Fut>(&self, mut call: F) -> Result<T, tonic::Status>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let opts = &self.options;
        let deadline = tokio::time::Instant::now() + opts.retry_timeout;
        let mut backoff = Backoff::new(opts);
        loop {
            match call().await {
                Ok(resp) => return Ok(resp.into_inner()),
                Err(status) if is_retryable_status(&status) && tokio::time::Instant::now() < deadline => {
                    tracing::debug!(%status, "retrying a call");
                    backoff.wait().await;
                }
                Err(status) => return Err(status),
            }
        }
    }
}

async fn connect_with_retry(
    endpoint: &Endpoint,
    opts: &ClientOptions,
) -> Result<Channel, tonic::transport::Error> {
    // A server that is starting (a test, a container) refuses connections for
    // a moment: retry within the connect timeout before reporting.
    let deadline = tokio::time::Instant::now() + opts.connect_timeout;
    let mut backoff = Backoff::new(opts);
    loop {
        match endpoint.connect().await {
            Ok(channel) => return Ok(channel),
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::debug!(error = %e, "connect failed, retrying");
                backoff.wait().await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Exponential back-off with jitter-free doubling, capped.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub(crate) fn new(opts: &ClientOptions) -> Self {
        Backoff { next: opts.initial_backoff, max: opts.max_backoff }
    }

    /// Sleeps for the current back-off, then doubles it.
    pub(crate) async fn wait(&mut self) {
        let delay = self.next_delay();
        tokio::time::sleep(delay).await;
    }

    /// The current back-off; the next one is twice as long (up to the cap).
    pub(crate) fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }

    /// Back to the initial delay after a success.
    pub(crate) fn reset(&mut self, opts: &ClientOptions) {
        self.next = opts.initial_backoff;
    }
}
