//! Managers and their teams, from the reporting lines HR data gives (`manager_external_id`).
//! Being someone's manager needs no role: the directory says who reports to whom, now — an HR
//! sync that moves a person moves what their old and new managers see at once.

use lms_platform::pagination::{self, encode};
use lms_platform::{AppError, AppResult, Principal, Role};

use super::EnrolmentApp;
use crate::domain::person::Person;
use crate::storage::people as people_rows;
use crate::storage::team as team_rows;

/// One page of a team: each person with their level (1: a direct report).
pub struct TeamPage {
    pub members: Vec<(Person, i32)>,
    pub next_page_token: String,
    pub total: i64,
}

/// Who may see anyone's team; everyone else sees their own.
const TEAM_READERS: [Role; 2] = [Role::Admin, Role::Service];

impl EnrolmentApp {
    pub async fn list_team(
        &self,
        who: &Principal,
        manager: Option<String>,
        whole_subtree: bool,
        page_size: i32,
        page_token: String,
    ) -> AppResult<TeamPage> {
        let manager = match manager {
            None => who.subject.clone(),
            Some(m) if m == who.subject || who.has_any(&TEAM_READERS) => m,
            Some(_) => {
                return Err(AppError::PermissionDenied(
                    "you may list only your own team".into(),
                ));
            }
        };
        let limit = pagination::page_size(page_size)?;
        let filters = format!("manager={manager};subtree={whole_subtree}");
        let after = match pagination::decode_key::<2>(&page_token, &filters)? {
            None => None,
            Some([level, external_id]) => Some((
                level
                    .parse::<i32>()
                    .map_err(|_| AppError::invalid_field("page_token", "is malformed"))?,
                external_id,
            )),
        };
        let tenant = who.tenant_id.clone();
        self.db
            .read(move |conn| {
                let (mut members, total) =
                    team_rows::page(conn, &tenant, &manager, whole_subtree, after, limit + 1)?;
                let more = members.len() as i64 > limit;
                members.truncate(limit as usize);
                let next_page_token = match (more, members.last()) {
                    (true, Some(last)) => encode(
                        vec![last.level.to_string(), last.external_id.clone()],
                        &filters,
                    ),
                    _ => String::new(),
                };
                let ids: Vec<String> = members.iter().map(|m| m.external_id.clone()).collect();
                let mut people = people_rows::by_external_ids(conn, &tenant, &ids)?;
                // In the team's order: nearest first, then by external id.
                let members = members
                    .into_iter()
                    .filter_map(|m| {
                        let at = people.iter().position(|p| p.external_id == m.external_id)?;
                        Some((people.swap_remove(at), m.level))
                    })
                    .collect();
                Ok(TeamPage {
                    members,
                    next_page_token,
                    total,
                })
            })
            .await
    }

    /// The ones of `people` anywhere below `manager` (services ask before showing a manager a
    /// report's record).
    pub async fn check_manages(
        &self,
        who: &Principal,
        manager: String,
        people: Vec<String>,
    ) -> AppResult<Vec<String>> {
        let tenant = who.tenant_id.clone();
        self.db
            .read(move |conn| team_rows::managed(conn, &tenant, &manager, &people))
            .await
    }
}
