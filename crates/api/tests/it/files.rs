//! Uploads end to end: real JPEG, PNG and PDF bytes made here, checked by magic bytes, sizes
//! and dimensions, stored once per content in a real folder, read back only by their owner.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::test::TestRequest;
use certdesk_api::files::{self, FileStore, MAX_IMAGE_BYTES, MAX_PDF_BYTES};
use serde_json::json;

use crate::support::{User, World, encode, get, send, send_bytes};

// ---- sample files --------------------------------------------------------------------------

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn adler32(bytes: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in bytes {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend(u32::try_from(data.len()).unwrap().to_be_bytes());
    let start = out.len();
    out.extend(kind);
    out.extend(data);
    let crc = crc32(&out[start..]);
    out.extend(crc.to_be_bytes());
}

/// A complete, decodable PNG: 1-bit greyscale, pixel data in stored (uncompressed) deflate
/// blocks. `seed` changes the pixels, so different seeds are different files.
fn png(width: u32, height: u32, seed: u8) -> Vec<u8> {
    let row = 1 + width.div_ceil(8) as usize;
    let mut raw = Vec::with_capacity(row * height as usize);
    for y in 0..height as usize {
        raw.push(0); // filter: none
        raw.extend((0..row - 1).map(|x| (x as u8) ^ (y as u8) ^ seed));
    }
    let mut zlib = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        zlib.push(u8::from(i + 1 == blocks.len()));
        let len = u16::try_from(block.len()).unwrap();
        zlib.extend(len.to_le_bytes());
        zlib.extend((!len).to_le_bytes());
        zlib.extend(*block);
    }
    zlib.extend(adler32(&raw).to_be_bytes());
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend(width.to_be_bytes());
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([1, 0, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &zlib);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// Only a PNG's signature, header and end: what a decompression bomb looks like before it
/// is decoded (no decoder is needed to refuse it).
fn png_header_only(width: u32, height: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend(width.to_be_bytes());
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// A baseline JPEG's markers (JFIF, quantisation table, frame header with the dimensions,
/// scan header), a few scan bytes and the end marker, padded to `len` bytes when asked.
pub(crate) fn jpeg(width: u16, height: u16, seed: u8, len: Option<usize>) -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8];
    v.extend([0xFF, 0xE0, 0, 16]);
    v.extend(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
    v.extend([0xFF, 0xDB, 0, 67, 0]);
    v.extend((0..64u8).map(|i| 1 + i / 8));
    v.extend([0xFF, 0xC0, 0, 11, 8]);
    v.extend(height.to_be_bytes());
    v.extend(width.to_be_bytes());
    v.extend([1, 1, 0x11, 0]);
    v.extend([0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 63, 0]);
    v.extend([seed, 0x3F, 0x00, seed ^ 0x55]);
    v.extend([0xFF, 0xD9]);
    if let Some(len) = len {
        // Trailing bytes after EOI, as some cameras write.
        v.resize(len, 0);
    }
    v
}

/// A one-page PDF with a correct cross-reference table; `padding` bytes of comment make it
/// as large as a test needs.
pub(crate) fn pdf(note: &str, padding: usize) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    if padding > 0 {
        out.push(b'%');
        out.extend(std::iter::repeat_n(b'x', padding));
        out.push(b'\n');
    }
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        format!("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Note ({note}) >>"),
    ];
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend(format!("{} 0 obj\n{body}\nendobj\n", i + 1).bytes());
    }
    let xref = out.len();
    out.extend(b"xref\n0 4\n0000000000 65535 f \n");
    for o in offsets {
        out.extend(format!("{o:010} 00000 n \n").bytes());
    }
    out.extend(format!("trailer\n<< /Size 4 /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n").bytes());
    out
}

/// A PDF of exactly `len` bytes (the `startxref` number grows with the padding, so aim twice).
fn pdf_of_len(len: usize) -> Vec<u8> {
    let mut padding = 1usize;
    for _ in 0..4 {
        let bytes = pdf("pad", padding);
        if bytes.len() == len {
            return bytes;
        }
        padding = (padding + len).checked_sub(bytes.len()).unwrap();
    }
    panic!("no PDF of {len} bytes")
}

// ---- requests ------------------------------------------------------------------------------

pub(crate) fn upload(user: &User, query: &str, content_type: &str, bytes: Vec<u8>) -> TestRequest {
    TestRequest::post()
        .uri(&format!("/api/v1/files?{query}"))
        .insert_header((header::AUTHORIZATION, format!("Bearer {}", user.token)))
        .insert_header((header::CONTENT_TYPE, content_type))
        .set_payload(bytes)
}

#[actix_web::test]
async fn jpeg_png_and_pdf_are_accepted_and_described() {
    let w = World::new().await;
    let app = app!(w);

    let licence = jpeg(1280, 960, 1, None);
    let r = send(
        &app,
        upload(
            &w.applicant,
            &format!(
                "purpose=business_licence&filename={}",
                encode("营业执照.jpg")
            ),
            "image/jpeg",
            licence.clone(),
        )
        .to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let parsed = uuid::Uuid::parse_str(&id).unwrap();
    assert_eq!(
        parsed.get_version_num(),
        4,
        "ids are random, never sequential"
    );
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/files/{id}").as_str())
    );
    assert_eq!(
        r.body,
        json!({
            "id": id,
            "purpose": "business_licence",
            "media_type": "image/jpeg",
            "size_bytes": licence.len(),
            "sm3": hex::encode(files::sm3(&licence)),
            "width": 1280,
            "height": 960,
            "filename": "营业执照.jpg",
            "created_at": "2026-03-02T01:00:00Z",
        })
    );

    let card = png(800, 600, 2);
    let r = send(
        &app,
        upload(
            &w.applicant,
            "purpose=id_card_front",
            "image/png",
            card.clone(),
        )
        .to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
    assert_eq!(r.body["media_type"], "image/png");
    assert_eq!(
        (r.body["width"].clone(), r.body["height"].clone()),
        (json!(800), json!(600))
    );
    assert_eq!(r.body["filename"], json!(null));

    let letter = pdf("授权书", 0);
    let r = send(
        &app,
        upload(
            &w.applicant,
            "purpose=authorisation_letter&filename=letter.pdf",
            "application/pdf; charset=binary",
            letter.clone(),
        )
        .to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
    assert_eq!(r.body["media_type"], "application/pdf");
    assert_eq!(r.body["size_bytes"], letter.len());
    assert!(r.body["width"].is_null() && r.body["height"].is_null());

    assert_eq!(w.file_count().await, 3);
    let objects = w.stored_objects();
    assert_eq!(objects.len(), 3, "{objects:?}");
    // Content-addressed: the object of the licence is at sm3/<2 hex>/<hex> and holds it.
    let key = FileStore::key(&files::sm3(&licence));
    let path = w.files_dir.path().join(key.as_ref());
    assert_eq!(std::fs::read(&path).unwrap(), licence);
    assert!(key.as_ref().starts_with("sm3/"));
}

#[actix_web::test]
async fn a_png_declared_as_jpeg_is_refused() {
    let w = World::new().await;
    let app = app!(w);
    let r = send(
        &app,
        upload(
            &w.applicant,
            "purpose=id_card_front",
            "image/jpeg",
            png(800, 600, 1),
        )
        .to_request(),
    )
    .await;
    let body = r.problem(422, "file_type_mismatch");
    assert_eq!(body["declared_type"], "image/jpeg");
    assert_eq!(body["detected_type"], "image/png");
    assert_eq!(
        r.field_errors(),
        [("file".into(), "file_type_mismatch".into())]
    );
    assert!(body["message_zh"].as_str().unwrap().contains("PNG"));

    // A JPEG sent as a PDF, for a purpose that takes both.
    let r = send(
        &app,
        upload(
            &w.applicant,
            "purpose=other",
            "application/pdf",
            jpeg(800, 600, 1, None),
        )
        .to_request(),
    )
    .await;
    r.problem(422, "file_type_mismatch");
    assert_eq!(w.file_count().await, 0);
    assert!(w.stored_objects().is_empty());
}

#[actix_web::test]
async fn html_svg_zip_and_exe_are_refused_whatever_they_claim() {
    let w = World::new().await;
    let app = app!(w);
    let mut zip = b"PK\x03\x04\x14\0\0\0\x08\0".to_vec();
    zip.extend([0u8; 64]);
    let mut exe = b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff".to_vec();
    exe.extend([0u8; 64]);
    let cases: [(&str, Vec<u8>, &str); 5] = [
        (
            "image/jpeg",
            b"<!DOCTYPE html><html><script>alert(1)</script></html>".to_vec(),
            "html",
        ),
        (
            "image/png",
            b"<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>"
                .to_vec(),
            "svg",
        ),
        ("application/pdf", zip, "zip"),
        ("image/png", exe, "exe"),
        ("image/jpeg", b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec(), "heic"),
    ];
    for (content_type, bytes, detected) in cases {
        let r = send(
            &app,
            upload(&w.applicant, "purpose=other", content_type, bytes).to_request(),
        )
        .await;
        let body = r.problem(422, "file_type_unsupported");
        assert_eq!(body["detected_type"], detected, "{body:#}");
    }
    assert_eq!(w.file_count().await, 0);
    assert!(w.stored_objects().is_empty());
}

#[actix_web::test]
async fn types_other_than_jpeg_png_and_pdf_are_415() {
    let w = World::new().await;
    let app = app!(w);
    let r = send(
        &app,
        upload(
            &w.applicant,
            "purpose=other",
            "text/plain",
            b"hello".to_vec(),
        )
        .to_request(),
    )
    .await;
    let body = r.problem(415, "unsupported_media_type");
    assert_eq!(
        body["accepted"],
        json!(["image/jpeg", "image/png", "application/pdf"])
    );

    for content_type in [
        "image/svg+xml",
        "text/html",
        "image/heic",
        "multipart/form-data",
    ] {
        let r = send(
            &app,
            upload(
                &w.applicant,
                "purpose=other",
                content_type,
                png(800, 600, 1),
            )
            .to_request(),
        )
        .await;
        r.problem(415, "unsupported_media_type");
    }

    // No content type at all.
    let r = send(
        &app,
        TestRequest::post()
            .uri("/api/v1/files?purpose=other")
            .insert_header((
                header::AUTHORIZATION,
                format!("Bearer {}", w.applicant.token),
            ))
            .set_payload(png(800, 600, 1))
            .to_request(),
    )
    .await;
    r.problem(415, "unsupported_media_type");

    // A compressed body is not the file.
    let r = send(
        &app,
        upload(&w.applicant, "purpose=other", "image/png", png(800, 600, 1))
            .insert_header((header::CONTENT_ENCODING, "gzip"))
            .to_request(),
    )
    .await;
    r.problem(415, "unsupported_content_encoding");
    assert_eq!(w.file_count().await, 0);
    assert!(w.stored_objects().is_empty());
}

#[actix_web::test]
async fn one_byte_over_the_limit_is_413_and_nothing_is_stored() {
    let w = World::new().await;
    let app = app!(w);

    let r = send(
        &app,
        upload(
            &w.applicant,
            "purpose=business_licence",
            "image/jpeg",
            jpeg(1280, 960, 1, Some(MAX_IMAGE_BYTES + 1)),
        )
        .to_request(),
    )
    .await;
    let body = r.problem(413, "file_too_large");
    assert_eq!(body["limit_bytes"], MAX_IMAGE_BYTES);

    // Without Content-Length the body is counted while it streams in.
    let mut req = upload(
        &w.applicant,
        "purpose=business_licence",
        "image/jpeg",
        jpeg(1280, 960, 2, Some(MAX_IMAGE_BYTES + 1)),
    )
    .to_request();
    req.headers_mut().remove(header::CONTENT_LENGTH);
    let r = send(&app, req).await;
    r.problem(413, "file_too_large");

    // PDFs may be larger than images, but not without bound.
    let r = send(
        &app,
        upload(
            &w.applicant,
            "purpose=authorisation_letter",
            "application/pdf",
            pdf_of_len(MAX_PDF_BYTES + 1),
        )
        .to_request(),
    )
    .await;
    assert_eq!(
        r.problem(413, "file_too_large")["limit_bytes"],
        MAX_PDF_BYTES
    );
    assert_eq!(w.file_count().await, 0);
    assert!(w.stored_objects().is_empty());

    // Exactly at the limit is fine, and a PDF over the image limit is too.
    let r = send(
        &app,
        upload(
            &w.applicant,
            "purpose=business_licence",
            "image/jpeg",
            jpeg(1280, 960, 3, Some(MAX_IMAGE_BYTES)),
        )
        .to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
    assert_eq!(r.body["size_bytes"], MAX_IMAGE_BYTES);
    let r = send(
        &app,
        upload(
            &w.applicant,
            "purpose=authorisation_letter",
            "application/pdf",
            pdf_of_len(MAX_IMAGE_BYTES + 1),
        )
        .to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
    assert_eq!(w.file_count().await, 2);
    assert_eq!(w.stored_objects().len(), 2);
}

#[actix_web::test]
async fn images_too_small_or_too_large_are_refused() {
    let w = World::new().await;
    let app = app!(w);

    // An ID card photo needs 400 px on its shorter side.
    let r = send(
        &app,
        upload(
            &w.applicant,
            "purpose=id_card_back",
            "image/png",
            png(600, 399, 1),
        )
        .to_request(),
    )
    .await;
    let body = r.problem(422, "image_too_small");
    assert_eq!(
        (
            body["width"].clone(),
            body["height"].clone(),
            body["min_short_side"].clone(),
            body["min_long_side"].clone()
        ),
        (json!(600), json!(399), json!(400), json!(600))
    );
    assert!(
        body["message_zh"]
            .as_str()
            .unwrap()
            .contains("身份证国徽面")
    );
    // … and 600 on its longer side.
    let r = send(
        &app,
        upload(
            &w.applicant,
            "purpose=id_card_back",
            "image/jpeg",
            jpeg(599, 450, 1, None),
        )
        .to_request(),
    )
    .await;
    r.problem(422, "image_too_small");

    // A seal imprint may be smaller than a document, but not tiny.
    let r = send(
        &app,
        upload(
            &w.applicant,
            "purpose=seal_image",
            "image/png",
            png(299, 400, 1),
        )
        .to_request(),
    )
    .await;
    r.problem(422, "image_too_small");

    // A decompression bomb: 45 bytes that claim 30000×30000 pixels.
    let bomb = png_header_only(30_000, 30_000);
    assert!(bomb.len() < 100);
    let r = send(
        &app,
        upload(&w.applicant, "purpose=other", "image/png", bomb).to_request(),
    )
    .await;
    let body = r.problem(422, "image_too_large");
    assert_eq!(body["width"], 30_000);
    assert_eq!(body["max_side"], 10_000);
    // Each side allowed, too many pixels in all.
    let r = send(
        &app,
        upload(
            &w.applicant,
            "purpose=other",
            "image/jpeg",
            jpeg(9_000, 9_000, 1, None),
        )
        .to_request(),
    )
    .await;
    r.problem(422, "image_too_large");

    // The smallest allowed passes.
    let r = send(
        &app,
        upload(
            &w.applicant,
            "purpose=id_card_back",
            "image/png",
            png(600, 400, 1),
        )
        .to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
    assert_eq!(w.file_count().await, 1);
    assert_eq!(w.stored_objects().len(), 1);
}

#[actix_web::test]
async fn purposes_types_and_bodies_are_checked_before_anything_is_stored() {
    let w = World::new().await;
    let app = app!(w);

    // An ID card is a photo, never a PDF.
    let r = send(
        &app,
        upload(
            &w.applicant,
            "purpose=id_card_front",
            "application/pdf",
            pdf("x", 0),
        )
        .to_request(),
    )
    .await;
    r.problem(422, "file_type_not_allowed");
    assert_eq!(
        r.field_errors(),
        [("file".into(), "file_type_not_allowed".into())]
    );

    let r = send(
        &app,
        upload(&w.applicant, "", "image/png", png(800, 600, 1)).to_request(),
    )
    .await;
    r.problem(422, "invalid_input");
    assert_eq!(r.field_errors(), [("purpose".into(), "required".into())]);

    let r = send(
        &app,
        upload(
            &w.applicant,
            &format!("purpose=selfie&filename={}", "x".repeat(256)),
            "image/png",
            png(800, 600, 1),
        )
        .to_request(),
    )
    .await;
    r.problem(422, "invalid_input");
    assert_eq!(
        r.field_errors(),
        [
            ("purpose".into(), "unknown_purpose".into()),
            ("filename".into(), "filename_too_long".into())
        ]
    );

    let r = send(
        &app,
        upload(
            &w.applicant,
            "purpose=other&owner=x",
            "image/png",
            png(800, 600, 1),
        )
        .to_request(),
    )
    .await;
    r.problem(400, "malformed_query");

    let r = send(
        &app,
        upload(&w.applicant, "purpose=other", "image/png", Vec::new()).to_request(),
    )
    .await;
    r.problem(422, "file_empty");

    // A PDF cut off before its end marker.
    let whole = pdf("cut", 0);
    let r = send(
        &app,
        upload(
            &w.applicant,
            "purpose=other",
            "application/pdf",
            whole[..whole.len() - 20].to_vec(),
        )
        .to_request(),
    )
    .await;
    r.problem(422, "file_unreadable");
    assert_eq!(w.file_count().await, 0);
    assert!(w.stored_objects().is_empty());
}

#[actix_web::test]
async fn the_same_bytes_twice_are_one_row_and_one_object() {
    let w = World::new().await;
    let app = app!(w);
    let bytes = png(800, 600, 7);
    let first = send(
        &app,
        upload(
            &w.applicant,
            "purpose=seal_image",
            "image/png",
            bytes.clone(),
        )
        .to_request(),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED, "{:#}", first.body);
    let again = send(
        &app,
        upload(
            &w.applicant,
            "purpose=seal_image&filename=again.png",
            "image/png",
            bytes.clone(),
        )
        .to_request(),
    )
    .await;
    assert_eq!(again.status, StatusCode::OK, "{:#}", again.body);
    assert_eq!(again.body, first.body, "the existing record, unchanged");
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(w.file_count().await, 1);
    assert_eq!(w.stored_objects().len(), 1);

    // For another purpose it is another file, over the same object.
    let other = send(
        &app,
        upload(&w.applicant, "purpose=other", "image/png", bytes).to_request(),
    )
    .await;
    assert_eq!(other.status, StatusCode::CREATED, "{:#}", other.body);
    assert_ne!(other.body["id"], first.body["id"]);
    assert_eq!(other.body["sm3"], first.body["sm3"]);
    assert_eq!(w.file_count().await, 2);
    assert_eq!(w.stored_objects().len(), 1);
}

#[actix_web::test]
async fn two_owners_with_the_same_bytes_get_two_rows_over_one_object() {
    let w = World::new().await;
    let app = app!(w);
    let bytes = pdf("shared template", 0);
    let mine = send(
        &app,
        upload(
            &w.applicant,
            "purpose=application_form",
            "application/pdf",
            bytes.clone(),
        )
        .to_request(),
    )
    .await;
    let theirs = send(
        &app,
        upload(
            &w.stranger,
            "purpose=application_form",
            "application/pdf",
            bytes,
        )
        .to_request(),
    )
    .await;
    assert_eq!(mine.status, StatusCode::CREATED);
    assert_eq!(theirs.status, StatusCode::CREATED);
    assert_ne!(mine.body["id"], theirs.body["id"]);
    assert_eq!(w.file_count().await, 2);
    assert_eq!(w.stored_objects().len(), 1);

    // Each reads their own; neither reads the other's.
    let id = mine.body["id"].as_str().unwrap();
    let r = send(
        &app,
        get(&format!("/api/v1/files/{id}"), &w.stranger).to_request(),
    )
    .await;
    r.problem(404, "file_not_found");
    let r = send(
        &app,
        get(&format!("/api/v1/files/{id}"), &w.applicant).to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[actix_web::test]
async fn another_applicant_gets_the_same_404_as_for_a_missing_id() {
    let w = World::new().await;
    let app = app!(w);
    let r = send(
        &app,
        upload(
            &w.applicant,
            "purpose=id_card_front",
            "image/jpeg",
            jpeg(1280, 800, 1, None),
        )
        .to_request(),
    )
    .await;
    let id = r.body["id"].as_str().unwrap().to_owned();
    let missing = uuid::Uuid::new_v4();

    for suffix in ["", "/content"] {
        let theirs = send(
            &app,
            get(&format!("/api/v1/files/{id}{suffix}"), &w.stranger).to_request(),
        )
        .await;
        let nothing = send(
            &app,
            get(&format!("/api/v1/files/{missing}{suffix}"), &w.stranger).to_request(),
        )
        .await;
        let a = theirs.problem(404, "file_not_found").clone();
        let b = nothing.problem(404, "file_not_found").clone();
        let strip = |mut v: serde_json::Value| {
            v.as_object_mut().unwrap().remove("request_id");
            v
        };
        assert_eq!(strip(a), strip(b), "nothing tells the two apart");
        // Nor does an enterprise admin: nothing links the file to an enterprise (yet).
        let r = send(
            &app,
            get(&format!("/api/v1/files/{id}{suffix}"), &w.admin).to_request(),
        )
        .await;
        r.problem(404, "file_not_found");
    }
    let r = send(
        &app,
        get("/api/v1/files/not-a-uuid", &w.applicant).to_request(),
    )
    .await;
    r.problem(404, "not_found");
}

#[actix_web::test]
async fn content_round_trips_byte_for_byte_with_safe_headers() {
    let w = World::new().await;
    let app = app!(w);
    let bytes = pdf("round trip", 3000);
    let r = send(
        &app,
        upload(
            &w.applicant,
            &format!(
                "purpose=bank_receipt&filename={}",
                encode("../回单 6222020200112233445.pdf")
            ),
            "application/pdf",
            bytes.clone(),
        )
        .to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
    assert_eq!(r.body["filename"], "回单 ***************3445.pdf");
    let id = r.body["id"].as_str().unwrap().to_owned();

    let (status, headers, body) = send_bytes(
        &app,
        get(&format!("/api/v1/files/{id}/content"), &w.applicant).to_request(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, bytes, "byte for byte");
    let h = |name: header::HeaderName| headers.get(name).unwrap().to_str().unwrap().to_owned();
    assert_eq!(h(header::CONTENT_TYPE), "application/pdf");
    assert_eq!(h(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    assert_eq!(h(header::CACHE_CONTROL), "private");
    let etag = format!("\"{}\"", hex::encode(files::sm3(&bytes)));
    assert_eq!(h(header::ETAG), etag);
    let disposition = h(header::CONTENT_DISPOSITION);
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(
        disposition.contains(&format!("filename=\"{id}.pdf\"")),
        "{disposition}"
    );
    assert!(
        disposition.contains("filename*=UTF-8''%E5%9B%9E%E5%8D%95%20%2A"),
        "{disposition}"
    );
    assert!(!disposition.contains("6222"), "{disposition}");

    // The metadata says the same.
    let meta = send(
        &app,
        get(&format!("/api/v1/files/{id}"), &w.applicant).to_request(),
    )
    .await;
    assert_eq!(meta.status, StatusCode::OK);
    assert_eq!(meta.body, r.body);

    // A client that has it already gets 304.
    let (status, headers, body) = send_bytes(
        &app,
        get(&format!("/api/v1/files/{id}/content"), &w.applicant)
            .insert_header((header::IF_NONE_MATCH, etag.clone()))
            .to_request(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    assert_eq!(headers.get(header::ETAG).unwrap().to_str().unwrap(), etag);

    // Images keep their type too.
    let photo = jpeg(1280, 800, 9, None);
    let r = send(
        &app,
        upload(
            &w.applicant,
            "purpose=passport&filename=p.exe",
            "image/jpeg",
            photo.clone(),
        )
        .to_request(),
    )
    .await;
    let id = r.body["id"].as_str().unwrap().to_owned();
    let (status, headers, body) = send_bytes(
        &app,
        get(&format!("/api/v1/files/{id}/content"), &w.applicant).to_request(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, photo);
    assert_eq!(headers.get(header::CONTENT_TYPE).unwrap(), "image/jpeg");
    assert!(
        headers
            .get(header::CONTENT_DISPOSITION)
            .unwrap()
            .to_str()
            .unwrap()
            .contains("filename=\"p.exe.jpg\""),
        "a download is named for what it is"
    );
}

#[actix_web::test]
async fn a_changed_object_is_an_error_never_an_answer() {
    let w = World::new().await;
    let app = app!(w);
    let bytes = png(800, 600, 3);
    let r = send(
        &app,
        upload(&w.applicant, "purpose=other", "image/png", bytes.clone()).to_request(),
    )
    .await;
    let id = r.body["id"].as_str().unwrap().to_owned();
    let path = w
        .files_dir
        .path()
        .join(FileStore::key(&files::sm3(&bytes)).as_ref());
    let mut changed = bytes.clone();
    let last = changed.len() - 20;
    changed[last] ^= 0xFF;
    std::fs::write(&path, &changed).unwrap();
    let r = send(
        &app,
        get(&format!("/api/v1/files/{id}/content"), &w.applicant).to_request(),
    )
    .await;
    r.problem(500, "internal_error");

    std::fs::remove_file(&path).unwrap();
    let r = send(
        &app,
        get(&format!("/api/v1/files/{id}/content"), &w.applicant).to_request(),
    )
    .await;
    r.problem(500, "internal_error");
}

#[actix_web::test]
async fn anonymous_callers_get_401_before_anything_else() {
    let w = World::new().await;
    let app = app!(w);
    let r = send(
        &app,
        TestRequest::post()
            .uri("/api/v1/files?purpose=other")
            .insert_header((header::CONTENT_TYPE, "image/png"))
            .set_payload(png(800, 600, 1))
            .to_request(),
    )
    .await;
    r.problem(401, "unauthenticated");
    // Even with a query or a type that would be refused.
    let r = send(
        &app,
        TestRequest::post()
            .uri("/api/v1/files?nonsense=1")
            .insert_header((header::CONTENT_TYPE, "text/plain"))
            .insert_header((header::AUTHORIZATION, format!("Bearer {}", "A".repeat(43))))
            .set_payload("x")
            .to_request(),
    )
    .await;
    r.problem(401, "invalid_token");
    assert_eq!(w.file_count().await, 0);
    assert!(w.stored_objects().is_empty());

    let id = uuid::Uuid::new_v4();
    for uri in [
        format!("/api/v1/files/{id}"),
        format!("/api/v1/files/{id}/content"),
    ] {
        let r = send(&app, TestRequest::get().uri(&uri).to_request()).await;
        r.problem(401, "unauthenticated");
    }
    let r = send(
        &app,
        TestRequest::delete()
            .uri(&format!("/api/v1/files/{id}"))
            .to_request(),
    )
    .await;
    r.problem(405, "method_not_allowed");
}
