//! The `Functions` gRPC service: the built-in functions the server runs
//! (`crate::functions`). A function acts on topics for its creator, so
//! creating one takes the admin permission on its input and on each output it
//! names (a route's outputs are in the input's namespace when the template
//! has none of its own: checked per record by the topics' own rules); reading
//! and deleting one takes the admin permission on its input. An instance of a
//! Rust function reports with the consume permission on its input (what it
//! needs to run at all).

use std::sync::Arc;

use runnel_proto::v1::{self, functions_server::FunctionsServer};
use tonic::{Request, Response, Status};

use super::{authorize_topic, topic_name};
use crate::auth::{self, Permission, Resource};
use crate::broker::Broker;
use crate::functions::{Builtin, FunctionStatus, InstanceReport, ReportAnswer};

/// The `Functions` service over the broker's functions.
#[derive(Debug, Clone)]
pub struct FunctionsService(Arc<Broker>);

/// The tonic server for [`FunctionsService`].
pub fn server(broker: Arc<Broker>) -> FunctionsServer<FunctionsService> {
    FunctionsServer::new(FunctionsService(broker))
}

fn info(s: FunctionStatus) -> v1::FunctionInfo {
    let guarantee = match &s.spec.builtin {
        Builtin::Rust { guarantee, .. } => guarantee.clone(),
        _ => "effectively-once".to_owned(),
    };
    v1::FunctionInfo {
        guarantee,
        instance_list: s
            .instance_list
            .into_iter()
            .map(|i| v1::FunctionInstance {
                instance_id: i.report.instance_id,
                partitions: i.report.partitions,
                processed: i.report.processed,
                failed: i.report.failed,
                last_report_ms: i.last_report_ms,
            })
            .collect(),
        kind: s.spec.builtin.kind().to_owned(),
        outputs: s.spec.builtin.outputs(),
        definition: s.spec.builtin.definition(),
        name: s.spec.name,
        input: s.spec.input,
        instances: s.instances,
        processed: s.processed,
        failed: s.failed,
        lag: s.lag,
        last_error: s.last_error.unwrap_or_default(),
        created_ms: s.spec.created_ms,
    }
}

impl FunctionsService {
    /// The function, when the caller may administer its input.
    fn visible<T>(&self, req: &Request<T>, name: &str) -> Result<FunctionStatus, Status> {
        let status = self.0.functions.get(name)?;
        authorize_topic(req, &status.spec.input, Permission::Admin)?;
        Ok(status)
    }
}

#[tonic::async_trait]
impl v1::functions_server::Functions for FunctionsService {
    async fn create_function(
        &self,
        req: Request<v1::CreateFunctionRequest>,
    ) -> Result<Response<v1::FunctionInfo>, Status> {
        let r = req.get_ref();
        authorize_topic(&req, &r.input, Permission::Admin)?;
        let builtin = match &r.builtin {
            Some(v1::create_function_request::Builtin::Filter(f)) => {
                Builtin::Filter { output: f.output.clone(), condition: f.r#where.clone() }
            }
            Some(v1::create_function_request::Builtin::Route(f)) => Builtin::Route {
                by: f.by.clone(),
                to: f.to.clone(),
                default_topic: (!f.default_topic.is_empty()).then(|| f.default_topic.clone()),
            },
            Some(v1::create_function_request::Builtin::Project(f)) => {
                Builtin::Project { output: f.output.clone(), schema: f.schema.clone(), schema_id: 0 }
            }
            None => {
                return Err(Status::invalid_argument(
                    "the request names no built-in (filter, route or project)",
                ))
            }
        };
        for output in builtin.outputs() {
            authorize_topic(&req, &output, Permission::Admin)?;
        }
        if let Builtin::Route { to, .. } = &builtin {
            // The template's topics are named by records; the template's own place
            // (with `{}` standing for any name) must be the caller's to administer.
            let probe = to.replace("{}", "x");
            let name = topic_name(&probe)?;
            auth::authorize(&req, Permission::Admin, Resource::Topic(&name))?;
        }
        let status = self.0.functions.create(&r.name, &r.input, builtin).await?;
        Ok(Response::new(info(status)))
    }

    async fn get_function(
        &self,
        req: Request<v1::FunctionRef>,
    ) -> Result<Response<v1::FunctionInfo>, Status> {
        let status = self.visible(&req, &req.get_ref().name)?;
        Ok(Response::new(info(status)))
    }

    async fn list_functions(
        &self,
        req: Request<v1::ListFunctionsRequest>,
    ) -> Result<Response<v1::ListFunctionsResponse>, Status> {
        let functions = self
            .0
            .functions
            .list()
            .into_iter()
            .filter(|s| authorize_topic(&req, &s.spec.input, Permission::Admin).is_ok())
            .map(info)
            .collect();
        Ok(Response::new(v1::ListFunctionsResponse { functions }))
    }

    async fn delete_function(
        &self,
        req: Request<v1::FunctionRef>,
    ) -> Result<Response<v1::DeleteFunctionResponse>, Status> {
        let name = req.get_ref().name.clone();
        self.visible(&req, &name)?;
        self.0.functions.delete(&name).await?;
        Ok(Response::new(v1::DeleteFunctionResponse {}))
    }

    async fn report_instance(
        &self,
        req: Request<v1::InstanceReport>,
    ) -> Result<Response<v1::InstanceReportResponse>, Status> {
        authorize_topic(&req, &req.get_ref().input, Permission::Consume)?;
        let r = req.into_inner();
        let report = InstanceReport {
            name: r.name,
            instance_id: r.instance_id,
            input: r.input,
            outputs: r.outputs,
            guarantee: r.guarantee,
            processed: r.processed,
            failed: r.failed,
            last_error: r.last_error,
            partitions: r.partitions,
            session_timeout_ms: r.session_timeout_ms,
            started_ms: r.started_ms,
            metrics: r.metrics.into_iter().collect(),
            leaving: r.leaving,
        };
        let deleted = self.0.functions.report(report)? == ReportAnswer::Deleted;
        Ok(Response::new(v1::InstanceReportResponse { deleted }))
    }
}
