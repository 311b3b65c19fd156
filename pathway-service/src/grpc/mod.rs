//! The gRPC handlers: convert, call the use case, convert back. Who may call each RPC is
//! declared in [`policy`] and checked before a handler runs.

mod content;
pub mod convert;
pub mod packages;
pub mod policy;

use lms_platform::AppError;
use lms_platform::auth::principal;
use lms_platform::ids::PathwayId;
use lms_platform::validate::parse_id;
use lms_proto::pathway_v1 as pb;
use pb::pathway_service_server::PathwayService;
use tonic::{Request, Response, Status};

use crate::app::PathwayApp;

pub struct PathwayGrpc {
    app: PathwayApp,
}

impl PathwayGrpc {
    pub fn new(app: PathwayApp) -> Self {
        Self { app }
    }
}

fn optional_id(field: &str, value: &str) -> Result<(), AppError> {
    if value.is_empty() {
        Ok(())
    } else {
        parse_id(field, value).map(|_| ())
    }
}

#[tonic::async_trait]
impl PathwayService for PathwayGrpc {
    async fn create_category(
        &self,
        request: Request<pb::CreateCategoryRequest>,
    ) -> Result<Response<pb::Category>, Status> {
        let who = principal(&request)?;
        let new = convert::new_category(request.into_inner())?;
        let category = self.app.create_category(&who, new).await?;
        Ok(Response::new(convert::category(category)))
    }

    async fn get_category(
        &self,
        request: Request<pb::GetCategoryRequest>,
    ) -> Result<Response<pb::Category>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        parse_id("id", &req.id)?;
        let category = self.app.get_category(&who, req.id).await?;
        Ok(Response::new(convert::category(category)))
    }

    async fn list_categories(
        &self,
        request: Request<pb::ListCategoriesRequest>,
    ) -> Result<Response<pb::ListCategoriesResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        optional_id("parent_id", &req.parent_id)?;
        let page = self
            .app
            .list_categories(&who, req.parent_id, req.page_size, req.page_token)
            .await?;
        Ok(Response::new(pb::ListCategoriesResponse {
            categories: page.items.into_iter().map(convert::category).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn get_category_tree(
        &self,
        request: Request<pb::GetCategoryTreeRequest>,
    ) -> Result<Response<pb::CategoryTree>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        optional_id("root_id", &req.root_id)?;
        let root = (!req.root_id.is_empty()).then_some(req.root_id);
        let roots = self.app.category_tree(&who, root).await?;
        Ok(Response::new(pb::CategoryTree {
            roots: roots.into_iter().map(convert::tree_node).collect(),
        }))
    }

    async fn update_category(
        &self,
        request: Request<pb::UpdateCategoryRequest>,
    ) -> Result<Response<pb::Category>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let category = req
            .category
            .ok_or_else(|| AppError::invalid_field("category", "is required"))?;
        parse_id("category.id", &category.id)?;
        let patch = convert::category_patch(&category, req.update_mask)?;
        let updated = self
            .app
            .update_category(&who, category.id, category.etag, patch)
            .await?;
        Ok(Response::new(convert::category(updated)))
    }

    async fn move_category(
        &self,
        request: Request<pb::MoveCategoryRequest>,
    ) -> Result<Response<pb::Category>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        parse_id("id", &req.id)?;
        optional_id("new_parent_id", &req.new_parent_id)?;
        let moved = self
            .app
            .move_category(&who, req.id, req.new_parent_id, req.etag)
            .await?;
        Ok(Response::new(convert::category(moved)))
    }

    async fn delete_category(
        &self,
        request: Request<pb::DeleteCategoryRequest>,
    ) -> Result<Response<pb::DeleteCategoryResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        parse_id("id", &req.id)?;
        self.app.delete_category(&who, req.id, req.etag).await?;
        Ok(Response::new(pb::DeleteCategoryResponse {}))
    }

    async fn create_pathway(
        &self,
        request: Request<pb::CreatePathwayRequest>,
    ) -> Result<Response<pb::Pathway>, Status> {
        let who = principal(&request)?;
        let (settings, request_id) = convert::new_pathway(request.into_inner())?;
        let pathway = self.app.create_pathway(&who, settings, request_id).await?;
        Ok(Response::new(convert::pathway(pathway)))
    }

    async fn get_pathway(
        &self,
        request: Request<pb::GetPathwayRequest>,
    ) -> Result<Response<pb::Pathway>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let id = PathwayId::parse("id", &req.id)?;
        let pathway = self.app.get_pathway(&who, id).await?;
        Ok(Response::new(convert::pathway(pathway)))
    }

    async fn list_pathways(
        &self,
        request: Request<pb::ListPathwaysRequest>,
    ) -> Result<Response<pb::ListPathwaysResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let filter = convert::pathway_filter(&req)?;
        let page = self
            .app
            .list_pathways(&who, filter, req.page_size, req.page_token)
            .await?;
        Ok(Response::new(pb::ListPathwaysResponse {
            pathways: page
                .items
                .into_iter()
                .map(convert::pathway_summary)
                .collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn update_pathway(
        &self,
        request: Request<pb::UpdatePathwayRequest>,
    ) -> Result<Response<pb::Pathway>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let pathway = req
            .pathway
            .ok_or_else(|| AppError::invalid_field("pathway", "is required"))?;
        let id = PathwayId::parse("pathway.id", &pathway.id)?;
        let etag = pathway.etag.clone();
        let mask = req.update_mask;
        let updated = self
            .app
            .update_pathway(&who, id, etag, move |current| {
                convert::patched_settings(current, &pathway, mask)
            })
            .await?;
        Ok(Response::new(convert::pathway(updated)))
    }

    async fn archive_pathway(
        &self,
        request: Request<pb::ArchivePathwayRequest>,
    ) -> Result<Response<pb::Pathway>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let id = PathwayId::parse("id", &req.id)?;
        let pathway = self.app.archive_pathway(&who, id, req.etag).await?;
        Ok(Response::new(convert::pathway(pathway)))
    }

    async fn add_step(
        &self,
        request: Request<pb::AddStepRequest>,
    ) -> Result<Response<pb::Pathway>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let pathway_id = PathwayId::parse("pathway_id", &req.pathway_id)?;
        let step = convert::new_step(req.step)?;
        let pathway = self
            .app
            .add_step(&who, pathway_id, req.etag, step, req.position)
            .await?;
        Ok(Response::new(convert::pathway(pathway)))
    }

    async fn import_cmi5_course(
        &self,
        request: Request<pb::ImportCmi5CourseRequest>,
    ) -> Result<Response<pb::Pathway>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let pathway_id = PathwayId::parse("pathway_id", &req.pathway_id)?;
        let units = content::imported_units(&req)?;
        let pathway = self
            .app
            .import_cmi5_course(&who, pathway_id, req.etag, units)
            .await?;
        Ok(Response::new(convert::pathway(pathway)))
    }

    async fn update_step(
        &self,
        request: Request<pb::UpdateStepRequest>,
    ) -> Result<Response<pb::Pathway>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let step = req
            .step
            .ok_or_else(|| AppError::invalid_field("step", "is required"))?;
        convert::ids(&[("pathway_id", &req.pathway_id), ("step.id", &step.id)])?;
        let step_id = step.id.clone();
        let links_assessment = matches!(step.kind, Some(pb::step::Kind::Assessment(_)));
        let mask = req.update_mask;
        let pathway = self
            .app
            .update_step(
                &who,
                req.pathway_id.into(),
                step_id,
                req.etag,
                links_assessment,
                move |current| convert::patched_step(current, &step, mask.clone()),
            )
            .await?;
        Ok(Response::new(convert::pathway(pathway)))
    }

    async fn reorder_steps(
        &self,
        request: Request<pb::ReorderStepsRequest>,
    ) -> Result<Response<pb::Pathway>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let pathway_id = PathwayId::parse("pathway_id", &req.pathway_id)?;
        let pathway = self
            .app
            .reorder_steps(&who, pathway_id, req.etag, req.step_ids)
            .await?;
        Ok(Response::new(convert::pathway(pathway)))
    }

    async fn remove_step(
        &self,
        request: Request<pb::RemoveStepRequest>,
    ) -> Result<Response<pb::Pathway>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        convert::ids(&[("pathway_id", &req.pathway_id), ("step_id", &req.step_id)])?;
        let pathway = self
            .app
            .remove_step(&who, req.pathway_id.into(), req.step_id, req.etag)
            .await?;
        Ok(Response::new(convert::pathway(pathway)))
    }

    async fn publish_pathway(
        &self,
        request: Request<pb::PublishPathwayRequest>,
    ) -> Result<Response<pb::PathwayVersion>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let id = PathwayId::parse("id", &req.id)?;
        let version = self.app.publish(&who, id, req.etag).await?;
        Ok(Response::new(convert::version(version)))
    }

    async fn get_pathway_version(
        &self,
        request: Request<pb::GetPathwayVersionRequest>,
    ) -> Result<Response<pb::PathwayVersion>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let pathway_id = PathwayId::parse("pathway_id", &req.pathway_id)?;
        let version = self.app.get_version(&who, pathway_id, req.version).await?;
        Ok(Response::new(convert::version(version)))
    }

    async fn list_pathway_versions(
        &self,
        request: Request<pb::ListPathwayVersionsRequest>,
    ) -> Result<Response<pb::ListPathwayVersionsResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let pathway_id = PathwayId::parse("pathway_id", &req.pathway_id)?;
        let page = self
            .app
            .list_versions(&who, pathway_id, req.page_size, req.page_token)
            .await?;
        Ok(Response::new(pb::ListPathwayVersionsResponse {
            versions: page.items.into_iter().map(convert::version).collect(),
            next_page_token: page.next_page_token,
        }))
    }
}
