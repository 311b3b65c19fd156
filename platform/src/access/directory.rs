//! The directory asked over gRPC (enrolment-service's `RoleBindingService`), with this
//! service's own identity: how every service but the directory learns bindings and groups.

use futures::FutureExt;
use futures::future::BoxFuture;
use lms_proto::enrolment_v1 as pb;
use pb::role_binding_service_client::RoleBindingServiceClient;

use super::{Directory, Grant, Scope, ScopedRole};
use crate::client::Peer;
use crate::error::{AppError, AppResult};
use crate::ids::TenantId;

/// A principal holds at most this many bindings (the directory refuses more), so one page
/// holds them all.
pub const MAX_BINDINGS_PER_PRINCIPAL: i32 = 100;

pub struct RemoteDirectory {
    peer: Peer,
}

impl RemoteDirectory {
    pub fn new(peer: Peer) -> Self {
        Self { peer }
    }
}

impl Directory for RemoteDirectory {
    fn grants(
        &self,
        tenant: TenantId,
        subject: String,
    ) -> BoxFuture<'static, AppResult<Vec<Grant>>> {
        let peer = self.peer.clone();
        async move {
            let request = pb::ListRoleBindingsRequest {
                principal: subject,
                page_size: MAX_BINDINGS_PER_PRINCIPAL,
                ..Default::default()
            };
            let page = peer
                .read(&tenant, request, |channel, request| async move {
                    RoleBindingServiceClient::new(channel)
                        .list_role_bindings(request)
                        .await
                })
                .await?;
            page.role_bindings.into_iter().map(grant).collect()
        }
        .boxed()
    }

    fn groups_holding(
        &self,
        tenant: TenantId,
        person: String,
        groups: Vec<Scope>,
    ) -> BoxFuture<'static, AppResult<Vec<Scope>>> {
        let peer = self.peer.clone();
        async move {
            let request = pb::CheckScopeMembershipRequest {
                person,
                scopes: groups.iter().map(scope_message).collect(),
            };
            let answer = peer
                .read(&tenant, request, |channel, request| async move {
                    RoleBindingServiceClient::new(channel)
                        .check_scope_membership(request)
                        .await
                })
                .await?;
            answer.scopes.into_iter().map(scope).collect()
        }
        .boxed()
    }
}

fn grant(binding: pb::RoleBinding) -> AppResult<Grant> {
    let role = role(binding.role())?;
    let scope = scope(binding.scope.unwrap_or_default())?;
    Ok(Grant { role, scope })
}

/// The domain's role of a message's.
pub fn role(role: pb::ScopedRole) -> AppResult<ScopedRole> {
    Ok(match role {
        pb::ScopedRole::Admin => ScopedRole::Admin,
        pb::ScopedRole::ReportingViewer => ScopedRole::ReportingViewer,
        pb::ScopedRole::Instructor => ScopedRole::Instructor,
        pb::ScopedRole::Grader => ScopedRole::Grader,
        pb::ScopedRole::Unspecified => {
            return Err(AppError::invalid_field("role", "is required"));
        }
    })
}

pub fn role_message(role: ScopedRole) -> pb::ScopedRole {
    match role {
        ScopedRole::Admin => pb::ScopedRole::Admin,
        ScopedRole::ReportingViewer => pb::ScopedRole::ReportingViewer,
        ScopedRole::Instructor => pb::ScopedRole::Instructor,
        ScopedRole::Grader => pb::ScopedRole::Grader,
    }
}

/// The domain's scope of a message's (INVALID_ARGUMENT on `scope` when none is set).
pub fn scope(message: pb::Scope) -> AppResult<Scope> {
    use pb::scope::Kind;
    Ok(match message.kind {
        Some(Kind::Tenant(true)) => Scope::Tenant,
        Some(Kind::Tenant(false)) => {
            return Err(AppError::invalid_field(
                "scope.tenant",
                "must be true when set",
            ));
        }
        Some(Kind::Category(id)) => Scope::Category(id),
        Some(Kind::Audience(id)) => Scope::Audience(id),
        Some(Kind::Department(name)) => Scope::Department(name),
        Some(Kind::ClassId(id)) => Scope::Class(id),
        None => {
            return Err(AppError::invalid_field(
                "scope",
                "one of tenant, category, audience, department, class_id is required",
            ));
        }
    })
}

pub fn scope_message(scope: &Scope) -> pb::Scope {
    use pb::scope::Kind;
    let kind = match scope.clone() {
        Scope::Tenant => Kind::Tenant(true),
        Scope::Category(id) => Kind::Category(id),
        Scope::Audience(id) => Kind::Audience(id),
        Scope::Department(name) => Kind::Department(name),
        Scope::Class(id) => Kind::ClassId(id),
    };
    pb::Scope { kind: Some(kind) }
}
