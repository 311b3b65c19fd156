//! `lms.enrolment.v1.RoleBindingService`: scoped administration's bindings, and the group
//! membership the other services' decision points ask about.

use lms_platform::AppError;
use lms_platform::access::{self, Scope};
use lms_platform::auth::principal;
use lms_platform::validate::Violations;
use lms_proto::enrolment_v1 as pb;
use pb::role_binding_service_server::{RoleBindingService, RoleBindingServiceServer};
use tonic::{Request, Response, Status};

use crate::app::{EnrolmentApp, NewBinding};
use crate::domain::person::MAX_EXTERNAL_ID_CHARS;
use crate::events;

/// The most groups one membership question names.
const MAX_SCOPES_PER_CHECK: usize = 100;
/// Longest department name or id a scope may carry.
const MAX_SCOPE_ID_CHARS: usize = 200;

pub struct RoleBindings {
    app: EnrolmentApp,
}

impl RoleBindings {
    pub fn server(app: EnrolmentApp) -> RoleBindingServiceServer<Self> {
        RoleBindingServiceServer::new(Self { app })
    }
}

#[tonic::async_trait]
impl RoleBindingService for RoleBindings {
    async fn create_role_binding(
        &self,
        request: Request<pb::CreateRoleBindingRequest>,
    ) -> Result<Response<pb::RoleBinding>, Status> {
        let who = principal(&request)?;
        let request = request.into_inner();
        let new = new_binding(request.role_binding.unwrap_or_default())?;
        let request_id = (!request.request_id.is_empty()).then_some(request.request_id);
        let binding = self.app.create_role_binding(&who, new, request_id).await?;
        Ok(Response::new(events::role_binding(binding)))
    }

    async fn get_role_binding(
        &self,
        request: Request<pb::GetRoleBindingRequest>,
    ) -> Result<Response<pb::RoleBinding>, Status> {
        let who = principal(&request)?;
        let id = request.into_inner().id;
        let mut v = Violations::new();
        v.id("id", &id);
        v.finish()?;
        Ok(Response::new(events::role_binding(
            self.app.get_role_binding(&who, id).await?,
        )))
    }

    async fn list_role_bindings(
        &self,
        request: Request<pb::ListRoleBindingsRequest>,
    ) -> Result<Response<pb::ListRoleBindingsResponse>, Status> {
        let who = principal(&request)?;
        let request = request.into_inner();
        let mut v = Violations::new();
        v.max_text("principal", &request.principal, MAX_EXTERNAL_ID_CHARS);
        let role = match pb::ScopedRole::try_from(request.role) {
            Ok(pb::ScopedRole::Unspecified) => None,
            Ok(role) => access::role(role).ok(),
            Err(_) => {
                v.add("role", "is not a known role");
                None
            }
        };
        v.finish()?;
        let principal = (!request.principal.is_empty()).then_some(request.principal);
        let page = self
            .app
            .list_role_bindings(&who, principal, role, request.page_size, request.page_token)
            .await?;
        Ok(Response::new(pb::ListRoleBindingsResponse {
            role_bindings: page.items.into_iter().map(events::role_binding).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn delete_role_binding(
        &self,
        request: Request<pb::DeleteRoleBindingRequest>,
    ) -> Result<Response<pb::DeleteRoleBindingResponse>, Status> {
        let who = principal(&request)?;
        let id = request.into_inner().id;
        let mut v = Violations::new();
        v.id("id", &id);
        v.finish()?;
        self.app.delete_role_binding(&who, id).await?;
        Ok(Response::new(pb::DeleteRoleBindingResponse {}))
    }

    async fn check_scope_membership(
        &self,
        request: Request<pb::CheckScopeMembershipRequest>,
    ) -> Result<Response<pb::CheckScopeMembershipResponse>, Status> {
        let who = principal(&request)?;
        let request = request.into_inner();
        let mut v = Violations::new();
        v.required_text("person", &request.person, MAX_EXTERNAL_ID_CHARS);
        if request.scopes.len() > MAX_SCOPES_PER_CHECK {
            v.add(
                "scopes",
                format!("at most {MAX_SCOPES_PER_CHECK} scopes per call"),
            );
        }
        let mut groups = Vec::new();
        for (i, scope) in request.scopes.into_iter().enumerate() {
            match access::scope(scope) {
                Ok(group) if group.is_group() => groups.push(group),
                Ok(_) => v.add(
                    format!("scopes[{i}]"),
                    "must be an audience, a department or a class",
                ),
                Err(_) => v.add(format!("scopes[{i}]"), "must name one scope"),
            }
        }
        v.finish()?;
        let held = self
            .app
            .check_scope_membership(&who, request.person, groups)
            .await?;
        Ok(Response::new(pb::CheckScopeMembershipResponse {
            scopes: held.iter().map(access::scope_message).collect(),
        }))
    }
}

/// A binding to create, validated: every field at fault is named at once.
fn new_binding(binding: pb::RoleBinding) -> Result<NewBinding, AppError> {
    let mut v = Violations::new();
    v.required_text(
        "role_binding.principal",
        &binding.principal,
        MAX_EXTERNAL_ID_CHARS,
    );
    let role = match pb::ScopedRole::try_from(binding.role) {
        Ok(role) => access::role(role).ok(),
        Err(_) => None,
    };
    if role.is_none() {
        v.add(
            "role_binding.role",
            "must be ADMIN, REPORTING_VIEWER, INSTRUCTOR or GRADER",
        );
    }
    let scope = match binding.scope.map(access::scope) {
        None => {
            v.add("role_binding.scope", "is required");
            None
        }
        Some(Err(AppError::InvalidArgument { violations, .. })) => {
            for violation in violations {
                v.add(
                    format!("role_binding.{}", violation.field),
                    violation.description,
                );
            }
            None
        }
        Some(Err(other)) => return Err(other),
        Some(Ok(scope)) => {
            check_scope_id(&mut v, &scope);
            Some(scope)
        }
    };
    v.finish()?;
    match (role, scope) {
        (Some(role), Some(scope)) => Ok(NewBinding {
            principal: binding.principal,
            role,
            scope,
        }),
        _ => Err(AppError::invalid_field("role_binding", "is incomplete")),
    }
}

/// Ids must be UUIDs; a department name 1..200 characters.
fn check_scope_id(v: &mut Violations, scope: &Scope) {
    match scope {
        Scope::Tenant => {}
        Scope::Category(id) => {
            v.id("role_binding.scope.category", id);
        }
        Scope::Audience(id) => {
            v.id("role_binding.scope.audience", id);
        }
        Scope::Class(id) => {
            v.id("role_binding.scope.class_id", id);
        }
        Scope::Department(name) => {
            v.required_text("role_binding.scope.department", name, MAX_SCOPE_ID_CHARS);
        }
    }
}
