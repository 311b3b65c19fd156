//! The gRPC handlers: authorise, convert, call the use case, convert back.

mod access;
mod assignment_updates;
pub mod convert;
mod events;
mod people;
pub mod policy;
pub mod privacy;
pub mod role_bindings;
mod team;

use lms_platform::AppError;
use lms_platform::auth::principal;
use lms_platform::ids::{EnrolmentId, PersonId};
use lms_platform::validate::parse_id;
use lms_proto::enrolment_v1 as pb;
use pb::enrolment_service_server::EnrolmentService;
use tonic::{Request, Response, Status, Streaming};

use crate::app::EnrolmentApp;

pub struct EnrolmentGrpc {
    app: EnrolmentApp,
}

impl EnrolmentGrpc {
    pub fn new(app: EnrolmentApp) -> Self {
        Self { app }
    }
}

#[tonic::async_trait]
impl EnrolmentService for EnrolmentGrpc {
    async fn create_person(
        &self,
        request: Request<pb::CreatePersonRequest>,
    ) -> Result<Response<pb::Person>, Status> {
        let who = principal(&request)?;
        let (external_id, profile, request_id) = convert::new_person(request.into_inner())?;
        let person = self
            .app
            .create_person(&who, external_id, profile, request_id)
            .await?;
        Ok(Response::new(convert::person(person)))
    }

    async fn get_person(
        &self,
        request: Request<pb::GetPersonRequest>,
    ) -> Result<Response<pb::Person>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let id = PersonId::parse("id", &req.id)?;
        let person = self.app.get_person(&who, id).await?;
        Ok(Response::new(convert::person(person)))
    }

    async fn list_people(
        &self,
        request: Request<pb::ListPeopleRequest>,
    ) -> Result<Response<pb::ListPeopleResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let filter = convert::people_filter(&req)?;
        let page = self
            .app
            .list_people(&who, filter, req.page_size, req.page_token)
            .await?;
        Ok(Response::new(pb::ListPeopleResponse {
            people: page.items.into_iter().map(convert::person).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn update_person(
        &self,
        request: Request<pb::UpdatePersonRequest>,
    ) -> Result<Response<pb::Person>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let person = req
            .person
            .ok_or_else(|| AppError::invalid_field("person", "is required"))?;
        let id = PersonId::parse("person.id", &person.id)?;
        let etag = person.etag.clone();
        let mask = req.update_mask;
        let updated = self
            .app
            .update_person(&who, id, etag, move |current| {
                convert::patched_profile(current, &person, mask)
            })
            .await?;
        Ok(Response::new(convert::person(updated)))
    }

    async fn upsert_people(
        &self,
        request: Request<Streaming<pb::UpsertPeopleRequest>>,
    ) -> Result<Response<pb::UpsertPeopleResponse>, Status> {
        let who = principal(&request)?;
        let outcome = people::upsert_people(&self.app, &who, request.into_inner()).await?;
        Ok(Response::new(outcome))
    }

    async fn create_audience(
        &self,
        request: Request<pb::CreateAudienceRequest>,
    ) -> Result<Response<pb::Audience>, Status> {
        let who = principal(&request)?;
        let (audience, request_id) = convert::new_audience(request.into_inner())?;
        let view = self.app.create_audience(&who, audience, request_id).await?;
        Ok(Response::new(convert::audience(view)))
    }

    async fn get_audience(
        &self,
        request: Request<pb::GetAudienceRequest>,
    ) -> Result<Response<pb::Audience>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        parse_id("id", &req.id)?;
        let view = self.app.get_audience(&who, req.id).await?;
        Ok(Response::new(convert::audience(view)))
    }

    async fn list_audiences(
        &self,
        request: Request<pb::ListAudiencesRequest>,
    ) -> Result<Response<pb::ListAudiencesResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let page = self
            .app
            .list_audiences(&who, req.page_size, req.page_token)
            .await?;
        Ok(Response::new(pb::ListAudiencesResponse {
            audiences: page.items.into_iter().map(convert::audience).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn update_audience(
        &self,
        request: Request<pb::UpdateAudienceRequest>,
    ) -> Result<Response<pb::Audience>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let audience = req
            .audience
            .ok_or_else(|| AppError::invalid_field("audience", "is required"))?;
        parse_id("audience.id", &audience.id)?;
        let patch = convert::audience_patch(&audience, req.update_mask)?;
        let view = self
            .app
            .update_audience(&who, audience.id, audience.etag, patch)
            .await?;
        Ok(Response::new(convert::audience(view)))
    }

    async fn delete_audience(
        &self,
        request: Request<pb::DeleteAudienceRequest>,
    ) -> Result<Response<pb::DeleteAudienceResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        parse_id("id", &req.id)?;
        self.app.delete_audience(&who, req.id, req.etag).await?;
        Ok(Response::new(pb::DeleteAudienceResponse {}))
    }

    async fn preview_audience_rule(
        &self,
        request: Request<pb::PreviewAudienceRuleRequest>,
    ) -> Result<Response<pb::PreviewAudienceRuleResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let audience_id = if req.audience_id.is_empty() {
            None
        } else {
            parse_id("audience_id", &req.audience_id)?;
            Some(req.audience_id)
        };
        let sample = match req.sample_size {
            n if n < 0 => {
                return Err(AppError::invalid_field("sample_size", "must not be negative").into());
            }
            0 => 20,
            n => (n as usize).min(200),
        };
        let preview = self.app.preview_rule(&who, req.rule, audience_id).await?;
        Ok(Response::new(convert::rule_preview(preview, sample)))
    }

    async fn add_audience_members(
        &self,
        request: Request<pb::AddAudienceMembersRequest>,
    ) -> Result<Response<pb::AudienceMembersChange>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let person_ids = convert::member_ids("audience_id", &req.audience_id, req.person_ids)?;
        let (added, removed, count) = self
            .app
            .change_members(&who, req.audience_id, person_ids, false)
            .await?;
        Ok(Response::new(convert::members_change(
            added, removed, count,
        )))
    }

    async fn remove_audience_members(
        &self,
        request: Request<pb::RemoveAudienceMembersRequest>,
    ) -> Result<Response<pb::AudienceMembersChange>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let person_ids = convert::member_ids("audience_id", &req.audience_id, req.person_ids)?;
        let (added, removed, count) = self
            .app
            .change_members(&who, req.audience_id, person_ids, true)
            .await?;
        Ok(Response::new(convert::members_change(
            added, removed, count,
        )))
    }

    async fn list_audience_members(
        &self,
        request: Request<pb::ListAudienceMembersRequest>,
    ) -> Result<Response<pb::ListAudienceMembersResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        parse_id("audience_id", &req.audience_id)?;
        let page = self
            .app
            .list_members(&who, req.audience_id, req.page_size, req.page_token)
            .await?;
        Ok(Response::new(pb::ListAudienceMembersResponse {
            members: page.items.into_iter().map(convert::person_ref).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn create_class(
        &self,
        request: Request<pb::CreateClassRequest>,
    ) -> Result<Response<pb::AcademicClass>, Status> {
        let who = principal(&request)?;
        let (class, request_id) = convert::new_class(request.into_inner())?;
        let view = self.app.create_class(&who, class, request_id).await?;
        Ok(Response::new(convert::class(view)))
    }

    async fn get_class(
        &self,
        request: Request<pb::GetClassRequest>,
    ) -> Result<Response<pb::AcademicClass>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        parse_id("id", &req.id)?;
        let view = self.app.get_class(&who, req.id).await?;
        Ok(Response::new(convert::class(view)))
    }

    async fn list_classes(
        &self,
        request: Request<pb::ListClassesRequest>,
    ) -> Result<Response<pb::ListClassesResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let term = (!req.term.trim().is_empty()).then(|| req.term.trim().to_string());
        let page = self
            .app
            .list_classes(&who, term, req.page_size, req.page_token)
            .await?;
        Ok(Response::new(pb::ListClassesResponse {
            classes: page.items.into_iter().map(convert::class).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn update_class(
        &self,
        request: Request<pb::UpdateClassRequest>,
    ) -> Result<Response<pb::AcademicClass>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let class = req
            .class
            .ok_or_else(|| AppError::invalid_field("class", "is required"))?;
        parse_id("class.id", &class.id)?;
        let (id, etag) = (class.id.clone(), class.etag.clone());
        let mask = req.update_mask;
        let view = self
            .app
            .update_class(&who, id, etag, move |current| {
                convert::patched_class(current, &class, mask)
            })
            .await?;
        Ok(Response::new(convert::class(view)))
    }

    async fn delete_class(
        &self,
        request: Request<pb::DeleteClassRequest>,
    ) -> Result<Response<pb::DeleteClassResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        parse_id("id", &req.id)?;
        self.app.delete_class(&who, req.id, req.etag).await?;
        Ok(Response::new(pb::DeleteClassResponse {}))
    }

    async fn add_class_members(
        &self,
        request: Request<pb::AddClassMembersRequest>,
    ) -> Result<Response<pb::ClassMembersChange>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let mut v = lms_platform::validate::Violations::new();
        let role = convert::class_role(&mut v, "role", req.role, false);
        v.finish()?;
        let person_ids = convert::member_ids("class_id", &req.class_id, req.person_ids)?;
        let (added, removed, view) = self
            .app
            .change_class_members(&who, req.class_id, person_ids, role)
            .await?;
        Ok(Response::new(convert::class_members_change(
            added, removed, view,
        )))
    }

    async fn remove_class_members(
        &self,
        request: Request<pb::RemoveClassMembersRequest>,
    ) -> Result<Response<pb::ClassMembersChange>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let person_ids = convert::member_ids("class_id", &req.class_id, req.person_ids)?;
        let (added, removed, view) = self
            .app
            .change_class_members(&who, req.class_id, person_ids, None)
            .await?;
        Ok(Response::new(convert::class_members_change(
            added, removed, view,
        )))
    }

    async fn list_class_members(
        &self,
        request: Request<pb::ListClassMembersRequest>,
    ) -> Result<Response<pb::ListClassMembersResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        parse_id("class_id", &req.class_id)?;
        let mut v = lms_platform::validate::Violations::new();
        let role = convert::class_role(&mut v, "role", req.role, true);
        v.finish()?;
        let page = self
            .app
            .list_class_members(&who, req.class_id, role, req.page_size, req.page_token)
            .await?;
        Ok(Response::new(pb::ListClassMembersResponse {
            members: page
                .items
                .into_iter()
                .map(|(person, role)| pb::ClassMember {
                    person: Some(convert::person_ref(person)),
                    role: convert::class_role_to_wire(role) as i32,
                })
                .collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn create_assignment(
        &self,
        request: Request<pb::CreateAssignmentRequest>,
    ) -> Result<Response<pb::Assignment>, Status> {
        let who = principal(&request)?;
        let (assignment, request_id) = convert::new_assignment(request.into_inner())?;
        let view = self
            .app
            .create_assignment(&who, assignment, request_id)
            .await?;
        Ok(Response::new(convert::assignment(view)))
    }

    async fn get_assignment(
        &self,
        request: Request<pb::GetAssignmentRequest>,
    ) -> Result<Response<pb::Assignment>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        parse_id("id", &req.id)?;
        let view = self.app.get_assignment(&who, req.id).await?;
        Ok(Response::new(convert::assignment(view)))
    }

    async fn list_assignments(
        &self,
        request: Request<pb::ListAssignmentsRequest>,
    ) -> Result<Response<pb::ListAssignmentsResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let filter = convert::assignment_filter(&req)?;
        let page = self
            .app
            .list_assignments(&who, filter, req.page_size, req.page_token)
            .await?;
        Ok(Response::new(pb::ListAssignmentsResponse {
            assignments: page.items.into_iter().map(convert::assignment).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn update_assignment(
        &self,
        request: Request<pb::UpdateAssignmentRequest>,
    ) -> Result<Response<pb::Assignment>, Status> {
        let who = principal(&request)?;
        let updated = assignment_updates::update(&self.app, &who, request.into_inner()).await?;
        Ok(Response::new(updated))
    }

    async fn preview_assignment_update(
        &self,
        request: Request<pb::UpdateAssignmentRequest>,
    ) -> Result<Response<pb::AssignmentUpdatePreview>, Status> {
        let who = principal(&request)?;
        let preview = assignment_updates::preview(&self.app, &who, request.into_inner()).await?;
        Ok(Response::new(preview))
    }

    async fn delete_assignment(
        &self,
        request: Request<pb::DeleteAssignmentRequest>,
    ) -> Result<Response<pb::DeleteAssignmentResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        parse_id("id", &req.id)?;
        let (withdrawn, kept) = self.app.delete_assignment(&who, req.id, req.etag).await?;
        Ok(Response::new(pb::DeleteAssignmentResponse {
            withdrawn: withdrawn as i64,
            kept: kept as i64,
        }))
    }

    async fn enrol_person(
        &self,
        request: Request<pb::EnrolPersonRequest>,
    ) -> Result<Response<pb::Enrolment>, Status> {
        let who = principal(&request)?;
        let (person_id, pathway_id, due, request_id) = convert::enrol_person(request.into_inner())?;
        let enrolment = self
            .app
            .enrol_person(&who, person_id, pathway_id, due, request_id)
            .await?;
        Ok(Response::new(convert::enrolment(enrolment)))
    }

    async fn self_enrol(
        &self,
        request: Request<pb::SelfEnrolRequest>,
    ) -> Result<Response<pb::Enrolment>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let mut v = lms_platform::validate::Violations::new();
        v.id("pathway_id", &req.pathway_id);
        let request_id = v
            .optional_id("request_id", &req.request_id)
            .map(|id| id.to_string());
        v.finish()?;
        let enrolment = self
            .app
            .self_enrol(&who, req.pathway_id.into(), request_id)
            .await?;
        Ok(Response::new(convert::enrolment(enrolment)))
    }

    async fn get_enrolment(
        &self,
        request: Request<pb::GetEnrolmentRequest>,
    ) -> Result<Response<pb::Enrolment>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let id = EnrolmentId::parse("id", &req.id)?;
        let enrolment = self.app.get_enrolment(&who, id).await?;
        Ok(Response::new(convert::enrolment(enrolment)))
    }

    async fn list_enrolments(
        &self,
        request: Request<pb::ListEnrolmentsRequest>,
    ) -> Result<Response<pb::ListEnrolmentsResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let filter = convert::enrolment_filter(&req)?;
        let page = self
            .app
            .list_enrolments(&who, filter, req.page_size, req.page_token)
            .await?;
        Ok(Response::new(pb::ListEnrolmentsResponse {
            enrolments: page.items.into_iter().map(convert::enrolment).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn withdraw_enrolment(
        &self,
        request: Request<pb::WithdrawEnrolmentRequest>,
    ) -> Result<Response<pb::Enrolment>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let mut v = lms_platform::validate::Violations::new();
        v.id("id", &req.id);
        v.required_text(
            "reason",
            &req.reason,
            crate::domain::enrolment::MAX_REASON_CHARS,
        );
        v.finish()?;
        let enrolment = self
            .app
            .withdraw_enrolment(&who, req.id.into(), req.etag, req.reason.trim().to_string())
            .await?;
        Ok(Response::new(convert::enrolment(enrolment)))
    }

    async fn extend_due_date(
        &self,
        request: Request<pb::ExtendDueDateRequest>,
    ) -> Result<Response<pb::Enrolment>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let (due, reason) = convert::due_extension(&req)?;
        let enrolment = self
            .app
            .extend_due_date(&who, req.id.into(), req.etag, due, reason)
            .await?;
        Ok(Response::new(convert::enrolment(enrolment)))
    }

    async fn check_access(
        &self,
        request: Request<pb::CheckAccessRequest>,
    ) -> Result<Response<pb::AccessDecision>, Status> {
        let who = principal(&request)?;
        let decision = access::check_access(&self.app, &who, request.into_inner()).await?;
        Ok(Response::new(decision))
    }

    async fn list_joinable_pathways(
        &self,
        request: Request<pb::ListJoinablePathwaysRequest>,
    ) -> Result<Response<pb::ListJoinablePathwaysResponse>, Status> {
        let who = principal(&request)?;
        let joinable =
            access::list_joinable_pathways(&self.app, &who, request.into_inner()).await?;
        Ok(Response::new(joinable))
    }

    async fn list_team(
        &self,
        request: Request<pb::ListTeamRequest>,
    ) -> Result<Response<pb::ListTeamResponse>, Status> {
        let who = principal(&request)?;
        let team = team::list_team(&self.app, &who, request.into_inner()).await?;
        Ok(Response::new(team))
    }

    async fn check_manages(
        &self,
        request: Request<pb::CheckManagesRequest>,
    ) -> Result<Response<pb::CheckManagesResponse>, Status> {
        let who = principal(&request)?;
        let managed = team::check_manages(&self.app, &who, request.into_inner()).await?;
        Ok(Response::new(managed))
    }
}
