//! Uploads — `POST /api/v1/files?purpose=…&filename=…` with the file's raw bytes as the body,
//! and reading them back (`GET /api/v1/files/{id}`, `GET /api/v1/files/{id}/content`).
//!
//! A raw body (no multipart) keeps the contract simple: the `Content-Type` is the file's
//! declared type, and [`crate::files::inspect`] checks it against the bytes. Everything that
//! can be refused without the body (caller, purpose, declared type, declared length) is
//! refused before a byte is read; the body is then read up to the purpose's limit and no
//! further, so a too-large upload costs at most that much memory. The object is written
//! before its row: an object without a row is harmless garbage, a row without its object is
//! a file nobody can read.
//!
//! Every refusal changes nothing: no row, no object.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use diesel::result::QueryResult;
use diesel_async::AsyncPgConnection;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::db::{self, FileRow, NewFile};
use crate::extract::query_error;
use crate::files::{
    self, MAX_FILENAME_CHARS, MAX_PIXELS, MAX_SIDE, MediaType, Purpose, Refusal, Rules, Sniffed,
};
use crate::openapi::{BadRequest, Problem, Unauthorized};
use crate::problem::{ApiError, FieldProblem};
use crate::{ApiState, Caller};

/// The query of an upload.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct UploadQuery {
    /// What the file is: `business_licence`, `id_card_front`, `id_card_back`, `passport`,
    /// `seal_image`, `seal_application`, `authorisation_letter`, `application_form`,
    /// `appeal_letter`, `bank_receipt` or `other` (required).
    #[param(example = "business_licence")]
    purpose: Option<String>,
    /// The file's name on the client (at most 255 characters; sanitised, digit runs masked).
    #[param(example = "营业执照.jpg")]
    filename: Option<String>,
}

/// The raw bytes of an upload or a download.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code, reason = "a schema only: the body is read as bytes")]
pub(crate) struct FileBytes(Vec<u8>);

/// A file as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FileView {
    /// The file's id.
    id: Uuid,
    /// What the file is (the upload's `purpose`).
    purpose: String,
    /// `image/jpeg`, `image/png` or `application/pdf`, as detected from the bytes.
    media_type: String,
    /// Size in bytes.
    size_bytes: i64,
    /// SM3 of the content, lower-case hex.
    sm3: String,
    /// Pixels across, for images.
    width: Option<i32>,
    /// Pixels down, for images.
    height: Option<i32>,
    /// The client's file name, sanitised, long digit runs masked.
    filename: Option<String>,
    /// When it was uploaded.
    created_at: DateTime<Utc>,
}

impl From<FileRow> for FileView {
    fn from(row: FileRow) -> Self {
        FileView {
            id: row.id,
            purpose: row.purpose,
            media_type: row.media_type,
            size_bytes: row.size_bytes,
            sm3: hex::encode(&row.sm3),
            width: row.width,
            height: row.height,
            filename: row.original_filename,
            created_at: row.created_at,
        }
    }
}

// ---- upload --------------------------------------------------------------------------------

/// `POST /api/v1/files?purpose=business_licence&filename=营业执照.jpg`: 201 with the new
/// file, or 200 with the existing one when this caller already uploaded these bytes for this
/// purpose.
#[utoipa::path(
    post,
    path = "/api/v1/files",
    tag = "files",
    operation_id = "upload_file",
    summary = "Upload a file: the raw bytes as the body",
    description = "The body is the file itself (no multipart), sent with its type as \
        `Content-Type`; the bytes must be that type. Images at most 5 MiB, PDFs at most 10 MiB; \
        identity documents must be images, and images must be large enough to read.",
    params(UploadQuery),
    request_body(
        description = "The file's bytes",
        content(
            (FileBytes = "image/jpeg"),
            (FileBytes = "image/png"),
            (FileBytes = "application/pdf"),
        ),
    ),
    responses(
        (status = 201, description = "Stored", body = FileView,
            headers(("Location" = String, description = "The new file"))),
        (status = 200, description = "The caller already uploaded these bytes for this \
            purpose: that file", body = FileView,
            headers(("Location" = String, description = "The existing file"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 413, description = "`file_too_large` (`limit_bytes`)",
            body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type` (`accepted` lists the types) or \
            `unsupported_content_encoding`",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_input` (purpose, filename), \
            `file_type_not_allowed`, `file_empty`, `file_type_unsupported`, \
            `file_type_mismatch`, `file_unreadable`, `image_too_small`, `image_too_large`",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn upload(
    state: web::Data<ApiState>,
    caller: Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    // The query is parsed here, not by an extractor, so an anonymous caller learns nothing
    // about it: authentication comes first.
    let query = web::Query::<UploadQuery>::from_query(req.query_string())
        .map_err(|e| query_error(&e))?
        .into_inner();
    let (purpose, filename) = check_query(query)?;
    let declared = declared_type(req.headers())?;
    let rules = purpose.rules();
    if !rules.types.contains(&declared) {
        return Err(type_not_allowed(purpose, &rules, declared));
    }
    let limit = declared.max_bytes();
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(too_large(declared));
    }
    let bytes = match payload.to_bytes_limited(limit).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => {
            tracing::debug!(error.detail = %e, "upload body unreadable");
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_body",
                "Unreadable body",
                "上传内容读取失败，请重试",
                "the body could not be read; try again",
            ));
        }
        Err(_) => return Err(too_large(declared)),
    };
    let inspected = files::inspect(&bytes, declared, &rules).map_err(|r| refused(r, purpose))?;
    let size_bytes = i64::try_from(bytes.len()).map_err(ApiError::internal)?;
    let sm3 = files::sm3(&bytes);

    let runtime = &state.runtime;
    let mut conn = db::conn(runtime).await?;
    if let Some(existing) =
        db::owned_file(&mut conn, caller.user_id, purpose.as_str(), &sm3).await?
    {
        return Ok(stored(StatusCode::OK, existing));
    }
    // Never hold a connection while talking to the object store: a slow bucket must not
    // starve the pool.
    drop(conn);
    state
        .files
        .put(&sm3, bytes)
        .await
        .map_err(ApiError::internal)?;

    let (width, height) = match inspected.dimensions {
        // Both at most MAX_SIDE, so they fit.
        Some((w, h)) => (i32::try_from(w).ok(), i32::try_from(h).ok()),
        None => (None, None),
    };
    let new = NewFile {
        id: Uuid::new_v4(),
        owner_id: caller.user_id,
        purpose: purpose.as_str(),
        media_type: inspected.media_type.as_str(),
        size_bytes,
        sm3: &sm3,
        width,
        height,
        original_filename: filename.as_deref(),
        created_at: runtime.clock().now(),
    };
    let mut conn = db::conn(runtime).await?;
    let (status, row) = match db::insert_file(&mut conn, &new).await? {
        Some(row) => (StatusCode::CREATED, row),
        // The same bytes from the same caller, concurrently: theirs is the file.
        None => {
            let row = db::owned_file(&mut conn, caller.user_id, purpose.as_str(), &sm3)
                .await?
                .ok_or_else(|| ApiError::internal("a conflicting file row vanished"))?;
            (StatusCode::OK, row)
        }
    };
    if status == StatusCode::CREATED {
        tracing::info!(
            file.id = %row.id,
            file.purpose = %row.purpose,
            file.media_type = %row.media_type,
            file.size = row.size_bytes,
            file.sm3 = %hex::encode(&row.sm3),
            user.id = %caller.user_id,
            "file uploaded"
        );
    }
    Ok(stored(status, row))
}

fn stored(status: StatusCode, row: FileRow) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::LOCATION, format!("/api/v1/files/{}", row.id)))
        .json(FileView::from(row))
}

/// The purpose and the sanitised file name, or every problem with them.
fn check_query(query: UploadQuery) -> Result<(Purpose, Option<String>), ApiError> {
    let mut errors = Vec::new();
    let names = || {
        Purpose::ALL
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let purpose = match query.purpose.as_deref().map(str::trim) {
        None | Some("") => {
            errors.push(FieldProblem::new(
                "purpose",
                "required",
                "请指定文件用途（如营业执照、身份证人像面）",
                format!("purpose is required: one of {}", names()),
            ));
            None
        }
        Some(name) => {
            let purpose = Purpose::parse(name);
            if purpose.is_none() {
                errors.push(FieldProblem::new(
                    "purpose",
                    "unknown_purpose",
                    "文件用途无效",
                    format!("purpose must be one of: {}", names()),
                ));
            }
            purpose
        }
    };
    let filename = match query.filename {
        Some(raw) if raw.chars().count() > MAX_FILENAME_CHARS => {
            errors.push(FieldProblem::new(
                "filename",
                "filename_too_long",
                format!("文件名不能超过 {MAX_FILENAME_CHARS} 个字符"),
                format!("filename must be at most {MAX_FILENAME_CHARS} characters"),
            ));
            None
        }
        Some(raw) => files::sanitise_filename(&raw),
        None => None,
    };
    match purpose {
        Some(purpose) if errors.is_empty() => Ok((purpose, filename)),
        _ => Err(ApiError::invalid(errors)),
    }
}

/// The declared type: one of the three, or 415. A compressed body is refused as well: the
/// file is stored exactly as sent, and its bytes must be the file's.
fn declared_type(headers: &HeaderMap) -> Result<MediaType, ApiError> {
    let encoded = headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"));
    if encoded {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_content_encoding",
            "Unsupported Content-Encoding",
            "请直接上传文件原始内容，不要压缩",
            "send the file's bytes as they are, without Content-Encoding",
        ));
    }
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(MediaType::parse)
        .ok_or_else(|| {
            let accepted: Vec<&str> = MediaType::ALL.iter().map(|t| t.as_str()).collect();
            ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported Media Type",
                "只能上传 JPEG、PNG 图片或 PDF 文件（Content-Type: image/jpeg、image/png 或 application/pdf）",
                "send the file as the raw body with Content-Type image/jpeg, image/png or application/pdf",
            )
            .with_extension("accepted", accepted)
        })
}

fn labels(types: &[MediaType]) -> String {
    types
        .iter()
        .map(|t| t.label())
        .collect::<Vec<_>>()
        .join("、")
}

fn type_not_allowed(purpose: Purpose, rules: &Rules, declared: MediaType) -> ApiError {
    let zh = format!(
        "{}只能上传 {} 格式",
        purpose.title_zh(),
        labels(rules.types)
    );
    let en = format!(
        "a {} must be {}, not {}",
        purpose.as_str(),
        rules
            .types
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(" or "),
        declared.as_str()
    );
    file_problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "file_type_not_allowed",
        "File type not allowed for this purpose",
        zh,
        en,
    )
}

fn too_large(declared: MediaType) -> ApiError {
    let limit = declared.max_bytes();
    let mib = limit / (1024 * 1024);
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "file_too_large",
        "File too large",
        format!("{} 文件不能超过 {mib} MB", declared.label()),
        format!(
            "a {} file must be at most {limit} bytes ({mib} MiB)",
            declared.label()
        ),
    )
    .with_extension("limit_bytes", limit)
}

/// A 422 about the file itself, with the same problem on the `file` field.
fn file_problem(
    status: StatusCode,
    code: &'static str,
    title: &'static str,
    zh: String,
    en: String,
) -> ApiError {
    ApiError::new(status, code, title, zh.clone(), en.clone())
        .with_errors([FieldProblem::new("file", code, zh, en)])
}

/// The problem for each way [`files::inspect`] refuses a file.
fn refused(refusal: Refusal, purpose: Purpose) -> ApiError {
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    match refusal {
        Refusal::Empty => file_problem(
            unprocessable,
            "file_empty",
            "Empty file",
            "文件为空，请重新选择".into(),
            "the body is empty: send the file's bytes".into(),
        ),
        Refusal::Unsupported(sniffed) => file_problem(
            unprocessable,
            "file_type_unsupported",
            "Unsupported file type",
            format!(
                "文件内容不是 JPEG、PNG 图片或 PDF（识别为 {}），请重新选择",
                sniffed_zh(sniffed)
            ),
            format!(
                "the file is not a JPEG, PNG or PDF (its content looks like {})",
                sniffed.name()
            ),
        )
        .with_extension("detected_type", sniffed.name()),
        Refusal::Mismatch { declared, detected } => file_problem(
            unprocessable,
            "file_type_mismatch",
            "File type does not match",
            format!(
                "文件内容是 {}，与声明的类型 {} 不符",
                detected.label(),
                declared.label()
            ),
            format!(
                "the file's content is {} but it was sent as {}",
                detected.as_str(),
                declared.as_str()
            ),
        )
        .with_extension("declared_type", declared.as_str())
        .with_extension("detected_type", detected.as_str()),
        Refusal::Unreadable(media_type) => file_problem(
            unprocessable,
            "file_unreadable",
            "File damaged or incomplete",
            format!("{} 文件已损坏或不完整，请重新上传", media_type.label()),
            format!(
                "the {} file is damaged or incomplete; upload it again",
                media_type.label()
            ),
        ),
        Refusal::TooSmall { width, height } => {
            let rules = purpose.rules();
            let (short, long) = (rules.min_short_side, rules.min_long_side);
            file_problem(
                unprocessable,
                "image_too_small",
                "Image too small",
                format!(
                    "图片分辨率过低（{width}×{height}），{}图片的短边至少 {short} 像素、长边至少 {long} 像素，请拍摄清晰完整的照片",
                    purpose.title_zh()
                ),
                format!(
                    "the image is {width}×{height} pixels; a {} needs at least {short} on the shorter side and {long} on the longer",
                    purpose.as_str()
                ),
            )
            .with_extension("width", width)
            .with_extension("height", height)
            .with_extension("min_short_side", short)
            .with_extension("min_long_side", long)
        }
        Refusal::TooLarge { width, height } => file_problem(
            unprocessable,
            "image_too_large",
            "Image too large",
            format!(
                "图片尺寸过大（{width}×{height}），每边不能超过 {MAX_SIDE} 像素、总像素不能超过 {} 万",
                MAX_PIXELS / 10_000
            ),
            format!(
                "the image is {width}×{height} pixels; at most {MAX_SIDE} per side and {MAX_PIXELS} in all"
            ),
        )
        .with_extension("width", width)
        .with_extension("height", height)
        .with_extension("max_side", MAX_SIDE)
        .with_extension("max_pixels", MAX_PIXELS),
    }
}

fn sniffed_zh(sniffed: Sniffed) -> &'static str {
    match sniffed {
        Sniffed::Other("heic" | "avif") => {
            "HEIC/AVIF 照片，请在相机设置中选择“兼容性最佳”或截图后上传"
        }
        Sniffed::Other("html" | "xml" | "svg") => "网页或矢量图",
        Sniffed::Other("exe" | "elf") => "可执行程序",
        Sniffed::Other("zip" | "rar" | "7z" | "gzip") => "压缩包",
        Sniffed::Other("ole") => "Office 文档",
        Sniffed::Other(name) => name,
        Sniffed::Unknown | Sniffed::Accepted(_) => "未知类型",
    }
}

// ---- read ----------------------------------------------------------------------------------

/// Whether `caller` may read `file`: the ONE place that decides who sees an upload, for the
/// metadata and the content alike.
///
/// For now only the uploader. When files are attached to a request about an enterprise (a
/// claim, a seal application, an information change), this grows to the people allowed to
/// see that request — the enterprise's admins and legal representative, the reviewers — which
/// is why it takes a connection.
pub(crate) async fn may_read(
    _conn: &mut AsyncPgConnection,
    caller: Caller,
    file: &FileRow,
) -> QueryResult<bool> {
    Ok(file.owner_id == caller.user_id)
}

fn file_not_found() -> ApiError {
    ApiError::not_found("file_not_found", "文件不存在", "no such file")
}

/// The file if the caller may read it; 404 otherwise, exactly as if it did not exist.
async fn visible(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    caller: Caller,
) -> Result<FileRow, ApiError> {
    let file = db::file(conn, id).await?.ok_or_else(file_not_found)?;
    if may_read(conn, caller, &file).await? {
        Ok(file)
    } else {
        Err(file_not_found())
    }
}

/// `GET /api/v1/files/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/files/{id}",
    tag = "files",
    operation_id = "get_file",
    summary = "A file's details",
    params(("id" = Uuid, Path, description = "The file's id")),
    responses(
        (status = 200, description = "The file", body = FileView),
        (status = 401, response = Unauthorized),
        (status = 404, description = "`file_not_found`: no such file, or not the caller's",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn detail(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<Uuid>,
) -> Result<web::Json<FileView>, ApiError> {
    let mut conn = db::conn(&state.runtime).await?;
    let file = visible(&mut conn, path.into_inner(), caller).await?;
    Ok(web::Json(FileView::from(file)))
}

/// `Content-Security-Policy` of downloads: should a browser render one anyway, it runs
/// nothing and loads nothing.
const DOWNLOAD_CSP: HeaderName = HeaderName::from_static("content-security-policy");

/// `GET /api/v1/files/{id}/content`: the bytes, as an attachment that no browser sniffs or
/// renders in the API's origin. The content is checked against its SM3 before it is sent: a
/// changed object is an error, never an answer.
#[utoipa::path(
    get,
    path = "/api/v1/files/{id}/content",
    tag = "files",
    operation_id = "get_file_content",
    summary = "A file's bytes, as an attachment",
    params(
        ("id" = Uuid, Path, description = "The file's id"),
        ("If-None-Match" = Option<String>, Header,
            description = "The `ETag` of a copy the client has"),
    ),
    responses(
        (status = 200, description = "The bytes", content(
            (FileBytes = "image/jpeg"),
            (FileBytes = "image/png"),
            (FileBytes = "application/pdf"),
        ), headers(
            ("ETag" = String, description = "The SM3 of the content"),
            ("Content-Disposition" = String, description = "`attachment` with the file name"),
        )),
        (status = 304, description = "The client's copy (`If-None-Match`) is current"),
        (status = 401, response = Unauthorized),
        (status = 404, description = "`file_not_found`: no such file, or not the caller's",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn content(
    state: web::Data<ApiState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = db::conn(&state.runtime).await?;
    let file = visible(&mut conn, path.into_inner(), caller).await?;
    drop(conn);
    let etag = format!("\"{}\"", hex::encode(&file.sm3));
    if if_none_match(req.headers(), &etag) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .insert_header((header::CACHE_CONTROL, "private"))
            .finish());
    }
    let media_type = MediaType::parse(&file.media_type)
        .ok_or_else(|| ApiError::internal(format!("file {} has no known type", file.id)))?;
    let sm3: [u8; 32] = file
        .sm3
        .as_slice()
        .try_into()
        .map_err(|_| ApiError::internal(format!("file {} has a malformed sm3", file.id)))?;
    let bytes = state.files.get(&sm3).await.map_err(ApiError::internal)?;
    if i64::try_from(bytes.len()).ok() != Some(file.size_bytes) || files::sm3(&bytes) != sm3 {
        return Err(ApiError::internal(format!(
            "object {} does not hold the content of file {}",
            files::FileStore::key(&sm3),
            file.id
        )));
    }
    let name = files::download_name(file.original_filename.as_deref(), file.id, media_type);
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, media_type.as_str()))
        .insert_header((
            header::CONTENT_DISPOSITION,
            attachment(&name, file.id, media_type),
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "private"))
        .insert_header((header::ETAG, etag))
        .insert_header((DOWNLOAD_CSP, "default-src 'none'; sandbox"))
        .body(bytes))
}

/// Whether `If-None-Match` names this entity tag (or `*`); weak comparison (RFC 9110 §13.1.2).
fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// `attachment; filename="…"; filename*=UTF-8''…` (RFC 6266): an ASCII name for old clients
/// (the id when the name is not ASCII), the real one percent-encoded for the rest.
fn attachment(name: &str, id: Uuid, media_type: MediaType) -> HeaderValue {
    let ascii = if name.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        name.replace(['"', '\\'], "_")
    } else {
        format!("{id}.{}", media_type.extension())
    };
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    HeaderValue::from_str(&format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

    use super::*;

    #[test]
    fn if_none_match_compares_weakly_and_accepts_lists() {
        let mut headers = HeaderMap::new();
        assert!(!if_none_match(&headers, "\"ab\""));
        headers.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"x\", W/\"ab\""),
        );
        assert!(if_none_match(&headers, "\"ab\""));
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(if_none_match(&headers, "\"cd\""));
    }

    #[test]
    fn attachment_names_are_ascii_with_a_utf8_twin() {
        let id = Uuid::nil();
        assert_eq!(
            attachment("scan 1.pdf", id, MediaType::Pdf),
            "attachment; filename=\"scan 1.pdf\"; filename*=UTF-8''scan%201.pdf"
        );
        assert_eq!(
            attachment("执照.jpg", id, MediaType::Jpeg),
            format!("attachment; filename=\"{id}.jpg\"; filename*=UTF-8''%E6%89%A7%E7%85%A7.jpg")
                .as_str()
        );
    }
}
