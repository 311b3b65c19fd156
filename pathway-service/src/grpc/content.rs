//! A content step's details on the wire: its media type and, for a cmi5 assignable unit, the
//! AU's proto form; and the AUs of an import request's course structure.

use lms_platform::AppError;
use lms_platform::validate::Violations;
use lms_proto::pathway_v1 as pb;

use crate::domain::cmi5::{Cmi5Unit, ImportedUnit, LaunchMethod, MoveOn, read_course_structure};
use crate::domain::step::MediaType;

/// The AUs of an import request's course structure, or its violations.
pub fn imported_units(req: &pb::ImportCmi5CourseRequest) -> Result<Vec<ImportedUnit>, AppError> {
    let mut v = Violations::new();
    if req.course_structure.trim().is_empty() {
        v.add("course_structure", "must not be empty");
    } else if req.course_structure.len() > MAX_COURSE_STRUCTURE_BYTES {
        v.add("course_structure", "must be at most 4 MiB");
    }
    let base_url = match req.base_url.trim() {
        "" => None,
        given => {
            v.url("base_url", given, crate::domain::MAX_URL_CHARS);
            url::Url::parse(given).ok()
        }
    };
    v.max_text("language", &req.language, 35);
    v.finish()?;
    read_course_structure(
        &req.course_structure,
        base_url.as_ref(),
        req.language.trim(),
    )
    .map_err(|violations| {
        violations.finish().err().unwrap_or_else(|| {
            AppError::invalid_field("course_structure", "is not a cmi5 course structure")
        })
    })
}

/// The largest course structure an import reads.
const MAX_COURSE_STRUCTURE_BYTES: usize = 4 << 20;

pub(super) fn cmi5_unit(unit: Cmi5Unit) -> pb::Cmi5AssignableUnit {
    use pb::cmi5_assignable_unit::{LaunchMethod as L, MoveOn as M};
    pb::Cmi5AssignableUnit {
        activity_id: unit.activity_id,
        course_id: unit.course_id,
        move_on: match unit.move_on {
            MoveOn::Passed => M::Passed,
            MoveOn::Completed => M::Completed,
            MoveOn::CompletedAndPassed => M::CompletedAndPassed,
            MoveOn::CompletedOrPassed => M::CompletedOrPassed,
            MoveOn::NotApplicable => M::NotApplicable,
        } as i32,
        mastery_score: unit.mastery_score,
        launch_method: match unit.launch_method {
            LaunchMethod::AnyWindow => L::AnyWindow,
            LaunchMethod::OwnWindow => L::OwnWindow,
        } as i32,
        launch_parameters: unit.launch_parameters,
        entitlement_key: unit.entitlement_key,
        block_ids: unit.block_ids,
    }
}

pub(super) fn parse_cmi5_unit(v: &mut Violations, unit: &pb::Cmi5AssignableUnit) -> Cmi5Unit {
    use pb::cmi5_assignable_unit::{LaunchMethod as L, MoveOn as M};
    let move_on = match M::try_from(unit.move_on) {
        Ok(M::Passed) => MoveOn::Passed,
        Ok(M::Completed) => MoveOn::Completed,
        Ok(M::CompletedAndPassed) => MoveOn::CompletedAndPassed,
        Ok(M::CompletedOrPassed) => MoveOn::CompletedOrPassed,
        Ok(M::NotApplicable) => MoveOn::NotApplicable,
        Ok(M::Unspecified) | Err(_) => {
            v.add(
                "step.content.cmi5.move_on",
                "must be PASSED, COMPLETED, COMPLETED_AND_PASSED, COMPLETED_OR_PASSED or NOT_APPLICABLE",
            );
            MoveOn::NotApplicable
        }
    };
    let launch_method = match L::try_from(unit.launch_method) {
        Ok(L::Unspecified | L::AnyWindow) => LaunchMethod::AnyWindow,
        Ok(L::OwnWindow) => LaunchMethod::OwnWindow,
        Err(_) => {
            v.add(
                "step.content.cmi5.launch_method",
                "is not a known launch method",
            );
            LaunchMethod::AnyWindow
        }
    };
    Cmi5Unit {
        activity_id: unit.activity_id.trim().to_string(),
        course_id: unit.course_id.trim().to_string(),
        move_on,
        mastery_score: unit.mastery_score,
        launch_method,
        launch_parameters: unit.launch_parameters.clone(),
        entitlement_key: unit.entitlement_key.clone(),
        block_ids: unit
            .block_ids
            .iter()
            .map(|b| b.trim().to_string())
            .collect(),
    }
}

pub(super) fn media_type(m: MediaType) -> pb::content_step::MediaType {
    use pb::content_step::MediaType as P;
    match m {
        MediaType::Unspecified => P::Unspecified,
        MediaType::Document => P::Document,
        MediaType::Video => P::Video,
        MediaType::Audio => P::Audio,
        MediaType::WebPage => P::WebPage,
        MediaType::Scorm => P::Scorm,
    }
}

pub(super) fn parse_media_type(v: &mut Violations, value: i32) -> MediaType {
    use pb::content_step::MediaType as P;
    match P::try_from(value) {
        Ok(P::Unspecified) => MediaType::Unspecified,
        Ok(P::Document) => MediaType::Document,
        Ok(P::Video) => MediaType::Video,
        Ok(P::Audio) => MediaType::Audio,
        Ok(P::WebPage) => MediaType::WebPage,
        Ok(P::Scorm) => MediaType::Scorm,
        Err(_) => {
            v.add("step.content.media_type", "is not a known media type");
            MediaType::Unspecified
        }
    }
}
