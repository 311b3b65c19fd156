//! The gRPC handlers: authorise, convert, call the use case, convert back.

pub mod convert;
pub mod policy;
mod updates;

use lms_platform::AppError;
use lms_platform::auth::principal;
use lms_platform::validate::{Violations, parse_id};
use lms_proto::assessment_v1 as pb;
use pb::assessment_service_server::AssessmentService;
use tonic::{Request, Response, Status};

use crate::app::AssessmentApp;

pub struct AssessmentGrpc {
    app: AssessmentApp,
}

impl AssessmentGrpc {
    pub fn new(app: AssessmentApp) -> Self {
        Self { app }
    }
}

fn optional(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
}

#[tonic::async_trait]
impl AssessmentService for AssessmentGrpc {
    async fn create_question_bank(
        &self,
        request: Request<pb::CreateQuestionBankRequest>,
    ) -> Result<Response<pb::QuestionBank>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let bank = req
            .bank
            .ok_or_else(|| AppError::invalid_field("bank", "is required"))?;
        let mut v = Violations::new();
        v.required_text("bank.name", &bank.name, 200);
        v.max_text("bank.description", &bank.description, 10_000);
        let request_id = v
            .optional_id("request_id", &req.request_id)
            .map(|id| id.to_string());
        v.finish()?;
        let view = self
            .app
            .create_bank(&who, bank.name, bank.description, request_id)
            .await?;
        Ok(Response::new(convert::bank(view)))
    }

    async fn get_question_bank(
        &self,
        request: Request<pb::GetQuestionBankRequest>,
    ) -> Result<Response<pb::QuestionBank>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        parse_id("id", &req.id)?;
        Ok(Response::new(convert::bank(
            self.app.get_bank(&who, req.id).await?,
        )))
    }

    async fn list_question_banks(
        &self,
        request: Request<pb::ListQuestionBanksRequest>,
    ) -> Result<Response<pb::ListQuestionBanksResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let page = self
            .app
            .list_banks(&who, req.page_size, req.page_token)
            .await?;
        Ok(Response::new(pb::ListQuestionBanksResponse {
            banks: page.items.into_iter().map(convert::bank).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn create_question(
        &self,
        request: Request<pb::CreateQuestionRequest>,
    ) -> Result<Response<pb::Question>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        parse_id("bank_id", &req.bank_id)?;
        let mut v = Violations::new();
        let request_id = v
            .optional_id("request_id", &req.request_id)
            .map(|id| id.to_string());
        v.finish()?;
        let question = req
            .question
            .ok_or_else(|| AppError::invalid_field("question", "is required"))?;
        let question = convert::question_from_wire(question, "question.")?;
        let mut stored = self
            .app
            .add_questions(&who, req.bank_id, vec![question], request_id)
            .await?;
        let first = stored
            .pop()
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("no question stored")))?;
        Ok(Response::new(convert::question(first)))
    }

    async fn get_question(
        &self,
        request: Request<pb::GetQuestionRequest>,
    ) -> Result<Response<pb::Question>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        parse_id("id", &req.id)?;
        Ok(Response::new(convert::question(
            self.app.get_question(&who, req.id).await?,
        )))
    }

    async fn list_questions(
        &self,
        request: Request<pb::ListQuestionsRequest>,
    ) -> Result<Response<pb::ListQuestionsResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        parse_id("bank_id", &req.bank_id)?;
        let page = self
            .app
            .list_questions(
                &who,
                req.bank_id,
                optional(req.tag),
                req.page_size,
                req.page_token,
            )
            .await?;
        Ok(Response::new(pb::ListQuestionsResponse {
            questions: page.items.into_iter().map(convert::question).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn update_question(
        &self,
        request: Request<pb::UpdateQuestionRequest>,
    ) -> Result<Response<pb::Question>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let sent = req
            .question
            .ok_or_else(|| AppError::invalid_field("question", "is required"))?;
        parse_id("question.id", &sent.id)?;
        let etag = sent.etag.clone();
        let current = convert::question(self.app.get_question(&who, sent.id.clone()).await?);
        let merged = updates::merge_question(current, sent, req.update_mask)?;
        let question = convert::question_from_wire(merged, "question.")?;
        let stored = self.app.update_question(&who, question, etag).await?;
        Ok(Response::new(convert::question(stored)))
    }

    async fn regrade_question(
        &self,
        request: Request<pb::RegradeQuestionRequest>,
    ) -> Result<Response<pb::RegradeQuestionResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        parse_id("id", &req.id)?;
        let (attempts, changed) = self.app.regrade_question(&who, req.id, req.dry_run).await?;
        Ok(Response::new(pb::RegradeQuestionResponse {
            attempts: attempts as i32,
            changed: changed as i32,
        }))
    }

    async fn import_gift(
        &self,
        request: Request<pb::ImportGiftRequest>,
    ) -> Result<Response<pb::ImportGiftResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        v.id("bank_id", &req.bank_id);
        if req.gift.trim().is_empty() {
            v.add("gift", "must hold at least one question in GIFT format");
        }
        v.finish()?;
        let (imported, errors) = self
            .app
            .import_gift(&who, req.bank_id, req.gift, req.dry_run)
            .await?;
        Ok(Response::new(pb::ImportGiftResponse {
            imported: imported as i32,
            errors: errors
                .into_iter()
                .map(|e| pb::GiftError {
                    line: e.line as i32,
                    message: e.message,
                })
                .collect(),
        }))
    }

    async fn export_gift(
        &self,
        request: Request<pb::ExportGiftRequest>,
    ) -> Result<Response<pb::ExportGiftResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        parse_id("bank_id", &req.bank_id)?;
        let gift = self.app.export_gift(&who, req.bank_id).await?;
        Ok(Response::new(pb::ExportGiftResponse { gift }))
    }

    async fn create_assessment(
        &self,
        request: Request<pb::CreateAssessmentRequest>,
    ) -> Result<Response<pb::Assessment>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let add_step = convert::new_assessment_step(
            req.assessment.as_ref().and_then(|a| a.add_step.as_ref()),
        )?;
        let (assessment, request_id) = convert::new_assessment(req)?;
        let stored = self
            .app
            .create_assessment(&who, assessment, add_step, request_id)
            .await?;
        Ok(Response::new(convert::assessment(stored)))
    }

    async fn update_assessment(
        &self,
        request: Request<pb::UpdateAssessmentRequest>,
    ) -> Result<Response<pb::Assessment>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let assessment = req
            .assessment
            .ok_or_else(|| AppError::invalid_field("assessment", "is required"))?;
        parse_id("assessment.id", &assessment.id)?;
        let current =
            convert::assessment(self.app.get_assessment(&who, assessment.id.clone()).await?);
        let merged = updates::merge_assessment(current, &assessment, req.update_mask)?;
        // The merged assessment is validated exactly as a new one would be.
        let (replacement, _) = convert::new_assessment(pb::CreateAssessmentRequest {
            assessment: Some(merged),
            request_id: String::new(),
        })?;
        let stored = self
            .app
            .update_assessment(&who, assessment.id, assessment.etag, replacement)
            .await?;
        Ok(Response::new(convert::assessment(stored)))
    }

    async fn get_assessment(
        &self,
        request: Request<pb::GetAssessmentRequest>,
    ) -> Result<Response<pb::Assessment>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        parse_id("id", &req.id)?;
        Ok(Response::new(convert::assessment(
            self.app.get_assessment(&who, req.id).await?,
        )))
    }

    async fn list_assessments(
        &self,
        request: Request<pb::ListAssessmentsRequest>,
    ) -> Result<Response<pb::ListAssessmentsResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let pathway_id = v.optional_typed_id("pathway_id", &req.pathway_id);
        v.finish()?;
        let page = self
            .app
            .list_assessments(&who, pathway_id, req.page_size, req.page_token)
            .await?;
        Ok(Response::new(pb::ListAssessmentsResponse {
            assessments: page.items.into_iter().map(convert::assessment).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn start_attempt(
        &self,
        request: Request<pb::StartAttemptRequest>,
    ) -> Result<Response<pb::Attempt>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        parse_id("assessment_id", &req.assessment_id)?;
        let view = self.app.start_attempt(&who, req.assessment_id).await?;
        Ok(Response::new(convert::attempt(view)))
    }

    async fn get_attempt(
        &self,
        request: Request<pb::GetAttemptRequest>,
    ) -> Result<Response<pb::Attempt>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        parse_id("id", &req.id)?;
        Ok(Response::new(convert::attempt(
            self.app.get_attempt(&who, req.id).await?,
        )))
    }

    async fn list_attempts(
        &self,
        request: Request<pb::ListAttemptsRequest>,
    ) -> Result<Response<pb::ListAttemptsResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        parse_id("assessment_id", &req.assessment_id)?;
        let page = self
            .app
            .list_attempts(&who, req.assessment_id, req.page_size, req.page_token)
            .await?;
        Ok(Response::new(pb::ListAttemptsResponse {
            attempts: page.items.into_iter().map(convert::attempt).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn save_answers(
        &self,
        request: Request<pb::SaveAnswersRequest>,
    ) -> Result<Response<pb::Attempt>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        parse_id("attempt_id", &req.attempt_id)?;
        let answers = convert::answers(req.answers)?;
        let view = self.app.save_answers(&who, req.attempt_id, answers).await?;
        Ok(Response::new(convert::attempt(view)))
    }

    async fn submit_attempt(
        &self,
        request: Request<pb::SubmitAttemptRequest>,
    ) -> Result<Response<pb::Attempt>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        parse_id("attempt_id", &req.attempt_id)?;
        let answers = convert::answers(req.answers)?;
        let view = self
            .app
            .submit_attempt(&who, req.attempt_id, answers)
            .await?;
        Ok(Response::new(convert::attempt(view)))
    }

    async fn list_pending_grades(
        &self,
        request: Request<pb::ListPendingGradesRequest>,
    ) -> Result<Response<pb::ListPendingGradesResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        v.optional_id("assessment_id", &req.assessment_id);
        v.finish()?;
        let page = self
            .app
            .pending_grades(
                &who,
                optional(req.assessment_id),
                req.page_size,
                req.page_token,
            )
            .await?;
        Ok(Response::new(pb::ListPendingGradesResponse {
            grades: page.items.into_iter().map(convert::pending_grade).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn grade_answer(
        &self,
        request: Request<pb::GradeAnswerRequest>,
    ) -> Result<Response<pb::Attempt>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        parse_id("attempt_id", &req.attempt_id)?;
        let mut v = Violations::new();
        v.max_text("feedback", &req.feedback, 10_000);
        if !req.points.is_finite() {
            v.add("points", "must be a number");
        }
        v.finish()?;
        let view = self
            .app
            .grade_answer(
                &who,
                req.attempt_id,
                req.question_id,
                req.points,
                req.feedback,
            )
            .await?;
        Ok(Response::new(convert::attempt(view)))
    }
}
