//! Topic administration on [`Client`]: create (with [`NewTopic`]), describe,
//! list, delete, add partitions; the offsets of a topic's partitions; and the
//! tenants and namespaces topics live in (`tenant/namespace/topic`), with their
//! quotas and policies.

use std::time::Duration;

use runnel_proto::v1;

use crate::client::Client;
use crate::error::ClientError;
use crate::grpc::connection::GrpcChannel;
use crate::transport::{Position, Transport as _};

use runnel_proto::v1::functions_client::FunctionsClient;
use runnel_proto::v1::tenants_client::TenantsClient;
pub use runnel_proto::v1::{
    FunctionInfo, NamespaceInfo, NamespacePolicy, PartitionInfo, TenantInfo, TenantQuotas, TopicConfig,
    TopicInfo,
};

/// How strictly the broker checks the records of a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Validation {
    /// No checks.
    None,
    /// Confluent framing, and the schema id is a version of the topic's subject.
    Id,
    /// `Id`, and the body decodes completely under that schema (the default).
    #[default]
    Full,
}

impl Validation {
    fn to_proto(self) -> v1::ValidationLevel {
        match self {
            Validation::None => v1::ValidationLevel::None,
            Validation::Id => v1::ValidationLevel::Id,
            Validation::Full => v1::ValidationLevel::Full,
        }
    }
}

impl std::str::FromStr for Validation {
    type Err = ClientError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Ok(Validation::None),
            "id" => Ok(Validation::Id),
            "full" => Ok(Validation::Full),
            other => Err(ClientError::InvalidArgument(format!(
                "unknown validation level `{other}` (expected none, id or full)"
            ))),
        }
    }
}

/// A topic to create: its name and settings.
///
/// ```
/// use runnel_client::{NewTopic, Validation};
/// let t = NewTopic::new("users").partitions(4).validation(Validation::Full).auto_register(true);
/// assert_eq!(t.name(), "users");
/// ```
#[derive(Debug, Clone)]
pub struct NewTopic {
    name: String,
    config: v1::TopicConfig,
    if_not_exists: bool,
}

impl NewTopic {
    /// A topic with the broker's defaults: one partition, full validation
    /// against subject `<name>-value`, no auto-register.
    pub fn new(name: impl Into<String>) -> Self {
        NewTopic { name: name.into(), config: v1::TopicConfig::default(), if_not_exists: false }
    }

    /// The topic's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The number of partitions.
    pub fn partitions(mut self, n: u32) -> Self {
        self.config.partitions = n;
        self
    }

    /// The validation level.
    pub fn validation(mut self, level: Validation) -> Self {
        self.config.validation = level.to_proto() as i32;
        self
    }

    /// Binds the values to `subject` instead of `<topic>-value`.
    pub fn value_subject(mut self, subject: impl Into<String>) -> Self {
        self.config.value_subject = subject.into();
        self
    }

    /// Whether producers may register new versions of the subject.
    pub fn auto_register(mut self, yes: bool) -> Self {
        self.config.auto_register = yes;
        self
    }

    /// Keep records this long (`None`: forever).
    pub fn retention(mut self, age: Option<Duration>) -> Self {
        self.config.retention_ms = age.map_or(-1, |d| d.as_millis().min(i64::MAX as u128) as i64);
        self
    }

    /// Succeed with the existing topic when one of that name exists.
    pub fn if_not_exists(mut self, yes: bool) -> Self {
        self.if_not_exists = yes;
        self
    }

    /// Any other setting, on the protocol's config message.
    pub fn config_mut(&mut self) -> &mut v1::TopicConfig {
        &mut self.config
    }
}

impl Client {
    /// Creates a topic.
    pub async fn create_topic(&self, topic: NewTopic) -> Result<TopicInfo, ClientError> {
        let req = v1::CreateTopicRequest {
            topic: topic.name.clone(),
            config: Some(topic.config),
            if_not_exists: topic.if_not_exists,
        };
        self.connection()
            .retry(|| {
                let mut svc = self.connection().admin();
                let req = req.clone();
                async move { svc.create_topic(req).await }
            })
            .await
            .map_err(|s| match s.code() {
                // The topic's tenant or namespace is missing: keep the broker's words.
                tonic::Code::NotFound => ClientError::Transport(s),
                _ => ClientError::from_topic_status(&topic.name, s),
            })
    }

    /// A topic's settings and partitions.
    pub async fn describe_topic(&self, topic: &str) -> Result<TopicInfo, ClientError> {
        self.connection().describe_topic(topic).await
    }

    /// Every topic.
    pub async fn list_topics(&self) -> Result<Vec<TopicInfo>, ClientError> {
        let resp = self
            .connection()
            .retry(|| {
                let mut svc = self.connection().admin();
                let req = v1::ListTopicsRequest {};
                async move { svc.list_topics(req).await }
            })
            .await?;
        Ok(resp.topics)
    }

    /// Deletes a topic and its data.
    pub async fn delete_topic(&self, topic: &str) -> Result<(), ClientError> {
        let req = v1::TopicRef { topic: topic.to_owned() };
        self.connection()
            .retry(|| {
                let mut svc = self.connection().admin();
                let req = req.clone();
                async move { svc.delete_topic(req).await }
            })
            .await
            .map_err(|s| ClientError::from_topic_status(topic, s))?;
        Ok(())
    }

    /// Grows a topic to `partitions` partitions in total.
    pub async fn add_partitions(&self, topic: &str, partitions: u32) -> Result<TopicInfo, ClientError> {
        let req = v1::AddPartitionsRequest { topic: topic.to_owned(), partitions };
        self.connection()
            .retry(|| {
                let mut svc = self.connection().admin();
                let req = req.clone();
                async move { svc.add_partitions(req).await }
            })
            .await
            .map_err(|s| ClientError::from_topic_status(topic, s))
    }

    /// The subject `topic`'s values are bound to: the broker's binding over
    /// gRPC (an unknown topic is [`ClientError::UnknownTopic`]), `<topic>-value`
    /// (TopicNameStrategy, as Confluent's serializers) over Kafka.
    pub async fn value_subject_of(&self, topic: &str) -> Result<String, ClientError> {
        Ok(self.transport().bind(topic).await?.subject)
    }

    /// The offset `position` designates in each of `partitions` (all when empty),
    /// as `(partition, offset)` pairs, on either transport.
    pub async fn list_offsets(
        &self,
        topic: &str,
        partitions: &[u32],
        position: Position,
    ) -> Result<Vec<(u32, i64)>, ClientError> {
        self.transport().list_offsets(topic, partitions, position).await
    }
}

/// Tenants and namespaces. Errors keep the broker's status (`ClientError::Transport`):
/// NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION (deleting one that still holds topics),
/// PERMISSION_DENIED, INVALID_ARGUMENT (a malformed name).
impl Client {
    fn tenants_svc(&self) -> TenantsClient<GrpcChannel> {
        TenantsClient::new(self.connection().channel())
    }

    /// Creates a tenant with `quotas` (`TenantQuotas::default()`: unlimited).
    pub async fn create_tenant(&self, name: &str, quotas: TenantQuotas) -> Result<TenantInfo, ClientError> {
        let req =
            v1::CreateTenantRequest { name: name.to_owned(), quotas: Some(quotas), if_not_exists: false };
        Ok(self
            .connection()
            .retry(|| {
                let mut svc = self.tenants_svc();
                let req = req.clone();
                async move { svc.create_tenant(req).await }
            })
            .await?)
    }

    /// A tenant: its quotas, namespaces, topic count and bytes stored.
    pub async fn get_tenant(&self, name: &str) -> Result<TenantInfo, ClientError> {
        let req = v1::TenantRef { name: name.to_owned() };
        Ok(self
            .connection()
            .retry(|| {
                let mut svc = self.tenants_svc();
                let req = req.clone();
                async move { svc.get_tenant(req).await }
            })
            .await?)
    }

    /// Every tenant the caller may see.
    pub async fn list_tenants(&self) -> Result<Vec<TenantInfo>, ClientError> {
        let resp = self
            .connection()
            .retry(|| {
                let mut svc = self.tenants_svc();
                async move { svc.list_tenants(v1::ListTenantsRequest {}).await }
            })
            .await?;
        Ok(resp.tenants)
    }

    /// Deletes a tenant and its namespaces (refused while it holds topics).
    pub async fn delete_tenant(&self, name: &str) -> Result<(), ClientError> {
        let req = v1::TenantRef { name: name.to_owned() };
        self.connection()
            .retry(|| {
                let mut svc = self.tenants_svc();
                let req = req.clone();
                async move { svc.delete_tenant(req).await }
            })
            .await?;
        Ok(())
    }

    /// Replaces a tenant's quotas.
    pub async fn set_tenant_quotas(
        &self,
        name: &str,
        quotas: TenantQuotas,
    ) -> Result<TenantInfo, ClientError> {
        let req = v1::SetTenantQuotasRequest { name: name.to_owned(), quotas: Some(quotas) };
        Ok(self
            .connection()
            .retry(|| {
                let mut svc = self.tenants_svc();
                let req = req.clone();
                async move { svc.set_tenant_quotas(req).await }
            })
            .await?)
    }

    /// Creates namespace `tenant/namespace` with `policy` (defaults for its new topics).
    pub async fn create_namespace(
        &self,
        name: &str,
        policy: NamespacePolicy,
    ) -> Result<NamespaceInfo, ClientError> {
        let req =
            v1::CreateNamespaceRequest { name: name.to_owned(), policy: Some(policy), if_not_exists: false };
        Ok(self
            .connection()
            .retry(|| {
                let mut svc = self.tenants_svc();
                let req = req.clone();
                async move { svc.create_namespace(req).await }
            })
            .await?)
    }

    /// Namespace `tenant/namespace`: its policy and topic count.
    pub async fn get_namespace(&self, name: &str) -> Result<NamespaceInfo, ClientError> {
        let req = v1::NamespaceRef { name: name.to_owned() };
        Ok(self
            .connection()
            .retry(|| {
                let mut svc = self.tenants_svc();
                let req = req.clone();
                async move { svc.get_namespace(req).await }
            })
            .await?)
    }

    /// The namespaces of `tenant` (of every tenant with `None`) the caller may see.
    pub async fn list_namespaces(&self, tenant: Option<&str>) -> Result<Vec<NamespaceInfo>, ClientError> {
        let req = v1::ListNamespacesRequest { tenant: tenant.unwrap_or_default().to_owned() };
        let resp = self
            .connection()
            .retry(|| {
                let mut svc = self.tenants_svc();
                let req = req.clone();
                async move { svc.list_namespaces(req).await }
            })
            .await?;
        Ok(resp.namespaces)
    }

    /// Deletes namespace `tenant/namespace` (refused while it holds topics).
    pub async fn delete_namespace(&self, name: &str) -> Result<(), ClientError> {
        let req = v1::NamespaceRef { name: name.to_owned() };
        self.connection()
            .retry(|| {
                let mut svc = self.tenants_svc();
                let req = req.clone();
                async move { svc.delete_namespace(req).await }
            })
            .await?;
        Ok(())
    }

    /// Replaces the policy of namespace `tenant/namespace` (topics created from now on get it).
    pub async fn set_namespace_policy(
        &self,
        name: &str,
        policy: NamespacePolicy,
    ) -> Result<NamespaceInfo, ClientError> {
        let req = v1::SetNamespacePolicyRequest { name: name.to_owned(), policy: Some(policy) };
        Ok(self
            .connection()
            .retry(|| {
                let mut svc = self.tenants_svc();
                let req = req.clone();
                async move { svc.set_namespace_policy(req).await }
            })
            .await?)
    }

    fn functions_svc(&self) -> FunctionsClient<GrpcChannel> {
        FunctionsClient::new(self.connection().channel())
    }

    /// Creates a built-in function the server runs: `name` reads `input` and
    /// does what `builtin` says, effectively once. The condition, field or
    /// projection is checked against the input's schema first; every problem
    /// is in the [`ClientError::InvalidArgument`].
    pub async fn create_function(
        &self,
        name: &str,
        input: &str,
        builtin: BuiltinFunction,
    ) -> Result<FunctionInfo, ClientError> {
        use v1::create_function_request::Builtin;
        let builtin = match builtin {
            BuiltinFunction::Filter { output, condition } => {
                Builtin::Filter(v1::FilterFunction { output, r#where: condition })
            }
            BuiltinFunction::Route { by, to, default_topic } => {
                Builtin::Route(v1::RouteFunction { by, to, default_topic: default_topic.unwrap_or_default() })
            }
            BuiltinFunction::Project { output, schema } => {
                Builtin::Project(v1::ProjectFunction { output, schema })
            }
        };
        let req = v1::CreateFunctionRequest {
            name: name.to_owned(),
            input: input.to_owned(),
            builtin: Some(builtin),
        };
        Ok(self
            .connection()
            .retry(|| {
                let mut svc = self.functions_svc();
                let req = req.clone();
                async move { svc.create_function(req).await }
            })
            .await?)
    }

    /// A function's definition and status (processed, failed, lag, last error).
    pub async fn get_function(&self, name: &str) -> Result<FunctionInfo, ClientError> {
        let req = v1::FunctionRef { name: name.to_owned() };
        Ok(self
            .connection()
            .retry(|| {
                let mut svc = self.functions_svc();
                let req = req.clone();
                async move { svc.get_function(req).await }
            })
            .await?)
    }

    /// Every function the caller may see, by name.
    pub async fn list_functions(&self) -> Result<Vec<FunctionInfo>, ClientError> {
        let resp = self
            .connection()
            .retry(|| {
                let mut svc = self.functions_svc();
                async move { svc.list_functions(v1::ListFunctionsRequest {}).await }
            })
            .await?;
        Ok(resp.functions)
    }

    /// Stops a function and forgets it and its input position.
    pub async fn delete_function(&self, name: &str) -> Result<(), ClientError> {
        let req = v1::FunctionRef { name: name.to_owned() };
        self.connection()
            .retry(|| {
                let mut svc = self.functions_svc();
                let req = req.clone();
                async move { svc.delete_function(req).await }
            })
            .await?;
        Ok(())
    }
}

impl Client {
    /// Reports an instance of a Rust function (`crate::function`); true when the
    /// function was deleted and the instance should stop.
    pub(crate) async fn report_function_instance(
        &self,
        req: v1::InstanceReport,
    ) -> Result<v1::InstanceReportResponse, ClientError> {
        Ok(self
            .connection()
            .retry(|| {
                let mut svc = self.functions_svc();
                let req = req.clone();
                async move { svc.report_instance(req).await }
            })
            .await?)
    }

    /// The offsets `group` committed on `topic`: (partition, next offset to read);
    /// partitions without a commit are absent.
    pub async fn committed_offsets(&self, group: &str, topic: &str) -> Result<Vec<(u32, i64)>, ClientError> {
        let req = v1::FetchCommittedRequest {
            group: group.to_owned(),
            topic: topic.to_owned(),
            partitions: vec![],
        };
        let resp = self
            .connection()
            .retry(|| {
                let mut svc = self.connection().groups();
                let req = req.clone();
                async move { svc.fetch_committed(req).await }
            })
            .await?;
        Ok(resp.offsets.into_iter().map(|o| (o.partition, o.offset)).collect())
    }
}

/// A built-in function: what [`Client::create_function`] asks the server to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuiltinFunction {
    /// Records for which `condition` (`age >= 18 && country == "NO"`) holds go
    /// to `output`, unchanged.
    Filter {
        /// The output topic (it must accept the input's schemas).
        output: String,
        /// The condition over the input's fields.
        condition: String,
    },
    /// Each record goes to the topic `to` names, `{}` replaced by the value of
    /// the field `by`; topics that do not exist are created like the input.
    Route {
        /// The field path.
        by: String,
        /// The topic template, e.g. `users-{}`.
        to: String,
        /// Where records whose field is null go.
        default_topic: Option<String>,
    },
    /// Each record, read as `schema` (fewer fields, renames through aliases),
    /// goes to `output`; the schema is registered under the output's subject.
    Project {
        /// The output topic.
        output: String,
        /// The projection's Avro schema (JSON).
        schema: String,
    },
}
