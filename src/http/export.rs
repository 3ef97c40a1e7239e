//! Streamed downloads: the audit log's export, page by page while the body is sent, for the API
//! route and the audit page alike.

use crate::domain::{AuditFilter, Cursor};
use crate::http::error::ApiError;
use crate::service::audit::{self, ExportFormat};
use crate::service::{Actor, Ctx};
use actix_web::{web, HttpResponse};

/// A streamed export: the first page is read before answering (so a refusal is an error, not a
/// broken download), the rest page by page while the body is sent.
pub fn audit_log(
    ctx: Ctx,
    actor: Actor,
    filter: AuditFilter,
    format: ExportFormat,
    first: (String, Option<Cursor>),
) -> HttpResponse {
    let (chunk, next) = first;
    let rest = futures_util::stream::unfold(next, move |at| {
        let (ctx, actor, filter) = (ctx.clone(), actor.clone(), filter.clone());
        async move {
            let at = at?;
            match audit::export_chunk(&ctx, actor, filter, format, Some(at)).await {
                Ok((chunk, next)) => Some((Ok::<_, actix_web::Error>(web::Bytes::from(chunk)), next)),
                Err(e) => {
                    log::warn!("audit export stopped: {e}");
                    Some((Err(ApiError::from(e).into()), None))
                }
            }
        }
    });
    let head = futures_util::stream::once(async move { Ok::<_, actix_web::Error>(web::Bytes::from(chunk)) });
    HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"audit-log.{}\"", format.extension()),
        ))
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .streaming(futures_util::StreamExt::chain(head, rest))
}
