//! `/v1/members`: the caller's organization's members, their roles and provisioner access.

use super::auth::Authed;
use crate::clock;
use crate::domain::Member;
use crate::domain::Role;
use crate::http::error::ApiError;
use crate::http::json::Body;
use crate::http::paging::{next_cursor, PageQuery, Paged};
use crate::http::AppState;
use crate::service::members::{self, MemberChange};
use crate::service::Actor;
use actix_web::{delete, get, patch, web, HttpResponse};
use serde::{Deserialize, Serialize};

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberList {
    pub members: Vec<MemberItemView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberItemView {
    pub user_id: String,
    /// `null` for a placeholder (a provision nobody has claimed yet).
    pub email: Option<String>,
    pub name: Option<String>,
    /// `owner`, `admin` or `member`.
    pub role: &'static str,
    pub is_provisioner: bool,
    /// `active` or `placeholder`.
    pub status: &'static str,
    pub api_only: bool,
    pub joined_at: String,
}

impl From<Member> for MemberItemView {
    fn from(m: Member) -> Self {
        MemberItemView {
            user_id: m.user_id.to_string(),
            email: m.email,
            name: m.name,
            role: m.role.as_str(),
            is_provisioner: m.is_provisioner,
            status: if m.placeholder { "placeholder" } else { "active" },
            api_only: m.api_only,
            joined_at: clock::format(m.joined_at),
        }
    }
}

/// Body of `PATCH /v1/members/{userId}`: `role`, `isProvisioner`, or both.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MemberPatch {
    /// `owner`, `admin` or `member`; admins may not grant `owner`.
    #[schema(value_type = String, required = false, pattern = "^(owner|admin|member)$")]
    pub role: Option<Role>,
    /// Owners only.
    #[schema(value_type = bool, required = false)]
    pub is_provisioner: Option<bool>,
}

#[utoipa::path(tag = "members", params(PageQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "The organization's members, in the order they joined.", body = MemberList),
        (status = 403, description = "Not an admin or owner, or the key lacks the `members` scope.", body = crate::http::error::ErrorBody)))]
#[get("/v1/members")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Authed,
    Paged(page): Paged,
) -> Result<HttpResponse, ApiError> {
    let page = members::list(&state.ctx, Actor::key(caller.0), page).await?;
    let next_cursor = next_cursor(&page);
    Ok(HttpResponse::Ok()
        .json(MemberList { members: page.items.into_iter().map(Into::into).collect(), next_cursor }))
}

/// Owners change anyone; admins change members only, and neither grant `owner` nor change
/// provisioner access. Every key of the member acts with the change from its next request.
#[utoipa::path(tag = "members", request_body = MemberPatch,
    params(("userId" = String, Path, description = "The member's user id")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = MemberItemView),
        (status = 403, description = "The caller may not change this member.", body = crate::http::error::ErrorBody),
        (status = 404, description = "No such member in this organization.", body = crate::http::error::ErrorBody),
        (status = 409, description = "`last_owner`: the organization would have no owner; `pending_provision`: an unclaimed placeholder.", body = crate::http::error::ErrorBody)))]
#[patch("/v1/members/{userId}")]
pub async fn update(
    state: web::Data<AppState>,
    caller: Authed,
    user: web::Path<String>,
    body: Body<MemberPatch>,
) -> Result<HttpResponse, ApiError> {
    let MemberPatch { role, is_provisioner } = body.into_inner()?;
    let change = MemberChange { role, is_provisioner };
    let member = members::update(&state.ctx, Actor::key(caller.0), &user, change).await?;
    Ok(HttpResponse::Ok().json(MemberItemView::from(member)))
}

/// Removes the membership and revokes every key the person holds in the organization, at once.
#[utoipa::path(tag = "members",
    params(("userId" = String, Path, description = "The member's user id")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 204, description = "Removed; their keys fail from now on."),
        (status = 403, description = "The caller may not remove this member.", body = crate::http::error::ErrorBody),
        (status = 404, description = "No such member in this organization.", body = crate::http::error::ErrorBody),
        (status = 409, description = "`last_owner`: the organization's last owner; `pending_provision`: cancel the provision instead.", body = crate::http::error::ErrorBody)))]
#[delete("/v1/members/{userId}")]
pub async fn remove(
    state: web::Data<AppState>,
    caller: Authed,
    user: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    members::remove(&state.ctx, Actor::key(caller.0), &user).await?;
    Ok(HttpResponse::NoContent().finish())
}
