//! Uploaded documents on task and instance pages: which form fields hold file ids, how they are
//! shown (images inline, PDFs embedded with a download link), and `GET /admin/files/{id}`.
//!
//! A file is served only to staff who may open a page showing it: a member of one of the groups
//! of a task whose instance's form data names it, or whoever supervises
//! ([`crate::access::supervises`]: `supervisor`, `sys_admin`) when an instance names it. Only
//! the instance's requester's own uploads count: the API lets a form name no one else's, and
//! a page shows any other id as missing. That also makes the check an index lookup (the
//! owner's few instances), not a scan of every instance's form data. Anyone
//! else, and any id that is no such file, gets the same 404, so ids cannot be probed. The
//! bytes come from the content-addressed [`certdesk_api::files::FileStore`] the API wrote them
//! to, with the stored (sniffed) type, `nosniff`, `inline` (or `attachment` when asked to
//! download) and `private, no-store` caching: identity documents must not linger in caches.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};
use certdesk_api::files::{FileStore, MediaType, download_name};
use certdesk_engine::def::Definition;
use certdesk_engine::form::{Field, FieldType};
use certdesk_store::schema::files;
use diesel::sql_types::{Array, Bool, Jsonb, Nullable, Text};
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::AdminState;
use crate::pages::{self, PageError};
use crate::session::Staff;

/// Whether a form field holds uploaded file ids.
#[must_use]
pub fn holds_files(field: &Field) -> bool {
    field.ty == FieldType::File
        || (field.ty == FieldType::Reference && field.reference.as_deref() == Some("file"))
}

/// The file fields of an instance's form data: (field title, file id) in the definition's
/// form order (a list field gives one entry per file).
#[must_use]
pub fn files(def: &Definition, data: &Value) -> Vec<(String, Uuid)> {
    def.form
        .fields
        .iter()
        .filter(|f| holds_files(f))
        .flat_map(|f| {
            let ids: Vec<Uuid> = match data.get(&f.name) {
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(|v| v.as_str()?.parse().ok())
                    .collect(),
                Some(Value::String(s)) => s.parse().ok().into_iter().collect(),
                _ => Vec::new(),
            };
            ids.into_iter().map(|id| (f.title.clone(), id))
        })
        .collect()
}

/// The names of `def`'s form fields that hold files (left out of the facts table).
#[must_use]
pub fn file_fields(def: &Definition) -> Vec<&str> {
    def.form
        .fields
        .iter()
        .filter(|f| holds_files(f))
        .map(|f| f.name.as_str())
        .collect()
}

/// An instance's form data for a page: the facts table (rows `{key, value, field, reveal}`,
/// titled from `def`'s form, file fields left out, personal numbers masked unless in
/// `numbers.revealed`) and the documents those file fields name ([`views`]), `requester`'s own
/// uploads only.
///
/// Rows carry the title as `key`: the layout's `title` parameter would shadow a row's
/// `title` in the template. `reveal` is set on a masked row the viewer may reveal.
///
/// # Errors
///
/// On database failure.
pub async fn facts_and_documents(
    conn: &mut AsyncPgConnection,
    def: Option<&Definition>,
    requester: Uuid,
    data: &Value,
    numbers: &crate::reveal::Numbers,
) -> Result<(Vec<Value>, Vec<Value>), diesel::result::Error> {
    let skip = def.map(file_fields).unwrap_or_default();
    let shown = shown_data(def, data, &numbers.revealed);
    let facts = crate::view::form_rows(def, &shown, &numbers.revealed)
        .into_iter()
        .filter(|r| !skip.contains(&r.key.as_str()))
        .map(|r| {
            let masked = def
                .and_then(|d| d.form.field(&r.key))
                .is_some_and(certdesk_api::mask::is_personal)
                && data.get(&r.key).is_some_and(|v| !v.is_null())
                && !numbers.revealed.contains(&r.key);
            json!({
                "key": r.title,
                "value": r.value,
                "field": r.key,
                "reveal": masked && numbers.may_reveal,
            })
        })
        .collect();
    let documents = match def {
        Some(d) => views(conn, requester, &files(d, data)).await?,
        None => Vec::new(),
    };
    Ok((facts, documents))
}

/// `data` as a page shows it: personal numbers masked as the API masks them, except the
/// `revealed` fields. Without its definition nothing says which fields are personal; the
/// rows still mask phones, identity numbers and long digit runs by value
/// ([`crate::view::form_rows`]).
fn shown_data(def: Option<&Definition>, data: &Value, revealed: &[String]) -> Value {
    let Some(def) = def else {
        return data.clone();
    };
    let mut shown = certdesk_api::mask::mask_form(&def.form, data);
    if let (Some(out), Some(original)) = (shown.as_object_mut(), data.as_object()) {
        for field in revealed {
            if let Some(v) = original.get(field) {
                out.insert(field.clone(), v.clone());
            }
        }
    }
    shown
}

/// The documents of a task or instance page, ready for the template: images inline, PDFs
/// embedded. An id that is not one of `requester`'s uploads shows as missing, as
/// `GET /admin/files/{id}` would not serve it.
///
/// # Errors
///
/// On database failure.
pub async fn views(
    conn: &mut AsyncPgConnection,
    requester: Uuid,
    found: &[(String, Uuid)],
) -> Result<Vec<Value>, diesel::result::Error> {
    let ids: Vec<Uuid> = found.iter().map(|(_, id)| *id).collect();
    let rows: Vec<(Uuid, String, Option<String>)> = files::table
        .filter(files::id.eq_any(&ids))
        .filter(files::owner_id.eq(requester))
        .select((files::id, files::media_type, files::original_filename))
        .load(conn)
        .await?;
    Ok(found
        .iter()
        .map(|(title, id)| {
            let url = format!("/admin/files/{id}");
            match rows.iter().find(|r| r.0 == *id) {
                Some((_, media_type, filename)) => {
                    let kind = MediaType::parse(media_type);
                    json!({
                        "caption": title,
                        "url": url,
                        "download": format!("{url}?download=1"),
                        "image": kind.is_some_and(MediaType::is_image),
                        "pdf": kind == Some(MediaType::Pdf),
                        "label": kind.map_or("文件", MediaType::label),
                        "filename": filename,
                    })
                }
                None => json!({"caption": title, "missing": true}),
            }
        })
        .collect())
}

#[derive(diesel::QueryableByName)]
struct Allowed {
    #[diesel(sql_type = Text)]
    media_type: String,
    #[diesel(sql_type = diesel::sql_types::Bytea)]
    sm3: Vec<u8>,
    #[diesel(sql_type = Nullable<Text>)]
    original_filename: Option<String>,
}

/// The file `id` if `staff` may see it (see the module docs).
async fn allowed(
    conn: &mut AsyncPgConnection,
    staff: &Staff,
    id: Uuid,
) -> Result<Option<Allowed>, diesel::result::Error> {
    if staff.roles.is_empty() {
        return Ok(None);
    }
    let groups: Vec<Value> = staff
        .roles
        .iter()
        .map(|g| json!([{"kind": "group", "name": g}]))
        .collect();
    use diesel::OptionalExtension;
    diesel::sql_query(
        "SELECT f.media_type, f.sm3, f.original_filename FROM files f \
         WHERE f.id = $1 AND EXISTS ( \
           SELECT 1 FROM instances i \
           WHERE i.requester = f.owner_id \
             AND ($2 OR EXISTS (SELECT 1 FROM tasks t \
                                WHERE t.instance_id = i.id AND t.parties @> ANY($3))) \
             AND EXISTS (SELECT 1 FROM jsonb_each(i.data) e \
                         WHERE e.value = to_jsonb($1::text) \
                            OR (jsonb_typeof(e.value) = 'array' \
                                AND e.value @> jsonb_build_array($1::text))))",
    )
    .bind::<diesel::sql_types::Uuid, _>(id)
    .bind::<Bool, _>(crate::access::supervises(staff))
    .bind::<Array<Jsonb>, _>(groups)
    .get_result::<Allowed>(conn)
    .await
    .optional()
}

/// The `Content-Disposition` of a served file: `inline` (or `attachment`) with an ASCII name
/// and the real one percent-encoded (RFC 6266).
fn disposition(kind: &str, name: &str, id: Uuid, media_type: MediaType) -> HeaderValue {
    let ascii = if name.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        name.replace(['"', '\\'], "_")
    } else {
        format!("{id}.{}", media_type.extension())
    };
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    HeaderValue::from_str(&format!(
        "{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("inline"))
}

/// Query of `GET /admin/files/{id}`.
#[derive(Debug, Deserialize)]
pub struct FileQuery {
    /// `1` to save the file instead of showing it.
    pub download: Option<String>,
}

/// `GET /admin/files/{id}`: an uploaded document, for staff who may see a task naming it.
///
/// # Errors
///
/// Not found for anyone else, an unknown id, or bytes missing from the store.
pub async fn serve(
    state: web::Data<AdminState>,
    staff: Staff,
    id: web::Path<String>,
    query: web::Query<FileQuery>,
) -> Result<HttpResponse, PageError> {
    let id: Uuid = id.parse().map_err(|_| PageError::NotFound)?;
    let mut conn = pages::conn(&state).await?;
    let Some(file) = allowed(&mut conn, &staff, id).await? else {
        return Err(PageError::NotFound);
    };
    drop(conn);
    let media_type = MediaType::parse(&file.media_type).ok_or_else(|| {
        PageError::internal(format!("file {id}: stored type {}", file.media_type))
    })?;
    let sm3: [u8; 32] = file
        .sm3
        .as_slice()
        .try_into()
        .map_err(|_| PageError::internal(format!("file {id}: SM3 is not 32 bytes")))?;
    let bytes = match read(&state.files, &sm3).await {
        Ok(b) => b,
        Err(object_store::Error::NotFound { .. }) => {
            tracing::error!(file.id = %id, "a files row whose bytes are missing from the store");
            return Err(PageError::NotFound);
        }
        Err(e) => return Err(PageError::internal(format!("file {id}: {e}"))),
    };
    let kind = if query.download.as_deref() == Some("1") {
        "attachment"
    } else {
        "inline"
    };
    let name = download_name(file.original_filename.as_deref(), id, media_type);
    tracing::info!(file.id = %id, user.id = %staff.user_id, "document viewed");
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, media_type.as_str()))
        .insert_header((
            header::CONTENT_DISPOSITION,
            disposition(kind, &name, id, media_type),
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        // Embedded by the console's own task page (a PDF in an <object>), nowhere else.
        .insert_header((header::CONTENT_SECURITY_POLICY, "frame-ancestors 'self'"))
        .insert_header((header::X_FRAME_OPTIONS, "SAMEORIGIN"))
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .body(bytes))
}

async fn read(files: &FileStore, sm3: &[u8; 32]) -> Result<web::Bytes, object_store::Error> {
    files.get(sm3).await
}
