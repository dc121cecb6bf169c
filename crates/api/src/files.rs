//! Uploaded files: what is accepted, how it is checked, and where the bytes go.
//!
//! SPEC, cross-cutting rules: "Uploads: type by magic bytes, size limits, content-addressed by
//! SM3, stored through `object_store`". Applicants upload business licences, both sides of an
//! identity card (人像面 / 国徽面), seal imprints, stamped application forms, authorisation
//! letters, appeal letters and bank receipts (the manuals in `shared/seeds`). Each upload names
//! its [`Purpose`], which decides the accepted [`MediaType`]s, the largest size and, for images,
//! the smallest and largest dimensions ([`Rules`]).
//!
//! The type is decided by the first bytes ([`sniff`]), never by the declared `Content-Type`
//! alone: a PNG sent as `image/jpeg`, an HTML page, an SVG or an `.exe` is refused whatever it
//! claims to be. Image dimensions are read from the header ([`inspect`]) without decoding any
//! pixels, so a 30000×30000 decompression bomb is refused before anything could decode it.
//!
//! The bytes are stored once per content in a [`FileStore`] — any [`ObjectStore`]: a local
//! folder by default, an S3-compatible bucket for scale — under `sm3/<2 hex>/<64 hex>`
//! ([`FileStore::key`]). Who uploaded what for which purpose is a `files` row; this module
//! knows nothing of rows, requests or callers.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix_web::web::Bytes;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use sm3::{Digest, Sm3};

use crate::mask::mask_digit_runs;

// ---- media types and purposes --------------------------------------------------------------

/// The three kinds of file certdesk accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaType {
    /// `image/jpeg`: photos of documents and cards.
    Jpeg,
    /// `image/png`: scans and seal imprints.
    Png,
    /// `application/pdf`: scanned or signed documents.
    Pdf,
}

/// Largest image accepted, in bytes (5 MiB): a phone photo of a document fits easily.
pub const MAX_IMAGE_BYTES: usize = 5 * 1024 * 1024;
/// Largest PDF accepted, in bytes (10 MiB): a few scanned pages.
pub const MAX_PDF_BYTES: usize = 10 * 1024 * 1024;
/// Longest side of an image accepted, in pixels.
pub const MAX_SIDE: u32 = 10_000;
/// Most pixels an image may have (40 megapixels, about 160 MB once decoded as RGBA): the
/// decompression-bomb guard for whoever decodes it later (a reviewer's browser, the seal
/// worker).
pub const MAX_PIXELS: u64 = 40_000_000;

impl MediaType {
    /// Every accepted type.
    pub const ALL: [MediaType; 3] = [MediaType::Jpeg, MediaType::Png, MediaType::Pdf];

    /// The media type as sent and stored (`image/jpeg`).
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Jpeg => "image/jpeg",
            MediaType::Png => "image/png",
            MediaType::Pdf => "application/pdf",
        }
    }

    /// The type named by a `Content-Type` value: its essence compared case-insensitively,
    /// parameters (`; charset=…`) ignored. `None` for anything but the three.
    pub fn parse(content_type: &str) -> Option<Self> {
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        MediaType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(essence))
    }

    /// Whether files of this type have pixel dimensions.
    pub fn is_image(self) -> bool {
        matches!(self, MediaType::Jpeg | MediaType::Png)
    }

    /// The usual file-name extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            MediaType::Jpeg => "jpg",
            MediaType::Png => "png",
            MediaType::Pdf => "pdf",
        }
    }

    /// Every extension a file of this type may carry.
    fn extensions(self) -> &'static [&'static str] {
        match self {
            MediaType::Jpeg => &["jpg", "jpeg", "jpe", "jfif"],
            MediaType::Png => &["png"],
            MediaType::Pdf => &["pdf"],
        }
    }

    /// Largest file of this type, in bytes.
    pub fn max_bytes(self) -> usize {
        match self {
            MediaType::Jpeg | MediaType::Png => MAX_IMAGE_BYTES,
            MediaType::Pdf => MAX_PDF_BYTES,
        }
    }

    /// A short name for messages (`JPEG`).
    pub fn label(self) -> &'static str {
        match self {
            MediaType::Jpeg => "JPEG",
            MediaType::Png => "PNG",
            MediaType::Pdf => "PDF",
        }
    }
}

/// What an upload is for: a closed list, each with its own [`Rules`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// 营业执照: a photo or scan of the business licence.
    BusinessLicence,
    /// 身份证人像面: the side of the resident identity card with the photo.
    IdCardFront,
    /// 身份证国徽面: the side with the national emblem.
    IdCardBack,
    /// The data page of a passport or a Hong Kong, Macau or Taiwan travel permit.
    Passport,
    /// 印章图片: a scan of the seal's imprint on blank paper (SPEC §3).
    SealImage,
    /// 印章申请书: the stamped seal application form.
    SealApplication,
    /// 授权书 / 授权委托书 / 授权函: the signed and stamped authorisation letter.
    AuthorisationLetter,
    /// 证书申请表: the stamped certificate application form.
    ApplicationForm,
    /// 申诉书: the letter of an account appeal.
    AppealLetter,
    /// 银行回单: a bank receipt of a corporate transfer.
    BankReceipt,
    /// 本人头照 / 活体照片: a photo of the applicant's face for real-name verification (the face
    /// check of a resident ID, the portrait a reviewer compares with a passport or permit).
    FacePhoto,
    /// Anything else a reviewer asked for.
    Other,
}

/// What a [`Purpose`] accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// The accepted types.
    pub types: &'static [MediaType],
    /// Smallest shorter side of an image, in pixels (orientation does not matter).
    pub min_short_side: u32,
    /// Smallest longer side of an image, in pixels.
    pub min_long_side: u32,
}

const IMAGES: &[MediaType] = &[MediaType::Jpeg, MediaType::Png];
const ANY: &[MediaType] = &[MediaType::Pdf, MediaType::Jpeg, MediaType::Png];

impl Purpose {
    /// Every purpose, in the order documentation lists them.
    pub const ALL: [Purpose; 12] = [
        Purpose::BusinessLicence,
        Purpose::IdCardFront,
        Purpose::IdCardBack,
        Purpose::Passport,
        Purpose::SealImage,
        Purpose::SealApplication,
        Purpose::AuthorisationLetter,
        Purpose::ApplicationForm,
        Purpose::AppealLetter,
        Purpose::BankReceipt,
        Purpose::FacePhoto,
        Purpose::Other,
    ];

    /// The stable name used on the wire and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::BusinessLicence => "business_licence",
            Purpose::IdCardFront => "id_card_front",
            Purpose::IdCardBack => "id_card_back",
            Purpose::Passport => "passport",
            Purpose::SealImage => "seal_image",
            Purpose::SealApplication => "seal_application",
            Purpose::AuthorisationLetter => "authorisation_letter",
            Purpose::ApplicationForm => "application_form",
            Purpose::AppealLetter => "appeal_letter",
            Purpose::BankReceipt => "bank_receipt",
            Purpose::FacePhoto => "face_photo",
            Purpose::Other => "other",
        }
    }

    /// What applicants call it (for messages).
    pub fn title_zh(self) -> &'static str {
        match self {
            Purpose::BusinessLicence => "营业执照",
            Purpose::IdCardFront => "身份证人像面",
            Purpose::IdCardBack => "身份证国徽面",
            Purpose::Passport => "护照或港澳台通行证",
            Purpose::SealImage => "印章图片",
            Purpose::SealApplication => "印章申请书",
            Purpose::AuthorisationLetter => "授权书",
            Purpose::ApplicationForm => "证书申请表",
            Purpose::AppealLetter => "申诉书",
            Purpose::BankReceipt => "银行回单",
            Purpose::FacePhoto => "本人头照",
            Purpose::Other => "其他材料",
        }
    }

    /// The purpose of that name.
    pub fn parse(name: &str) -> Option<Self> {
        Purpose::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// What this purpose accepts. Documents people read must stay legible ("文字清晰"), so
    /// their images need more pixels than a seal imprint; identity documents are photos of
    /// a card, never PDFs.
    pub fn rules(self) -> Rules {
        let (types, min_short_side, min_long_side) = match self {
            Purpose::BusinessLicence => (ANY, 600, 800),
            Purpose::IdCardFront | Purpose::IdCardBack | Purpose::Passport => (IMAGES, 400, 600),
            // SPEC §3: "a clear scan of the imprint … minimum resolution".
            Purpose::SealImage => (IMAGES, 300, 300),
            Purpose::SealApplication
            | Purpose::AuthorisationLetter
            | Purpose::ApplicationForm
            | Purpose::AppealLetter => (ANY, 600, 800),
            Purpose::BankReceipt => (ANY, 400, 600),
            // A face from a phone's front camera: a photo, large enough to compare.
            Purpose::FacePhoto => (IMAGES, 300, 400),
            Purpose::Other => (ANY, 200, 200),
        };
        Rules {
            types,
            min_short_side,
            min_long_side,
        }
    }
}

// ---- sniffing and inspection ---------------------------------------------------------------

/// What the first bytes of a file say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    /// One of the accepted types.
    Accepted(MediaType),
    /// A recognised type that is not accepted (`heic`, `zip`, `exe`, `html`, `svg`, …).
    Other(&'static str),
    /// Nothing recognised.
    Unknown,
}

impl Sniffed {
    /// A short name for messages and the `detected_type` member of a problem.
    pub fn name(self) -> &'static str {
        match self {
            Sniffed::Accepted(t) => t.as_str(),
            Sniffed::Other(name) => name,
            Sniffed::Unknown => "unknown",
        }
    }
}

/// The type of `bytes` by their magic numbers. Never panics, whatever the input.
pub fn sniff(bytes: &[u8]) -> Sniffed {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Sniffed::Accepted(MediaType::Jpeg);
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Sniffed::Accepted(MediaType::Png);
    }
    // ISO 32000 puts the header at the very start; readers that look further accept
    // polyglots, which is exactly what a strict check refuses.
    if bytes.starts_with(b"%PDF-") {
        return Sniffed::Accepted(MediaType::Pdf);
    }
    sniff_other(bytes).map_or(Sniffed::Unknown, Sniffed::Other)
}

/// Names for the types people most often send by mistake (or on purpose), so the refusal can
/// say what was received.
fn sniff_other(bytes: &[u8]) -> Option<&'static str> {
    const SIGNATURES: &[(&[u8], &str)] = &[
        (b"GIF87a", "gif"),
        (b"GIF89a", "gif"),
        (b"II*\0", "tiff"),
        (b"MM\0*", "tiff"),
        (b"PK\x03\x04", "zip"),
        (b"PK\x05\x06", "zip"),
        (b"Rar!\x1a\x07", "rar"),
        (b"7z\xbc\xaf\x27\x1c", "7z"),
        (b"\x1f\x8b", "gzip"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole"),
        (b"\x7fELF", "elf"),
        (b"MZ", "exe"),
        (b"BM", "bmp"),
    ];
    if let Some((_, name)) = SIGNATURES.iter().find(|(sig, _)| bytes.starts_with(sig)) {
        return Some(name);
    }
    if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return Some("webp");
    }
    if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        return Some(match &bytes[8..12] {
            b"heic" | b"heix" | b"hevc" | b"heim" | b"heis" | b"mif1" | b"msf1" => "heic",
            b"avif" | b"avis" => "avif",
            _ => "mp4",
        });
    }
    // Markup: HTML, SVG or other XML, after an optional byte-order mark and whitespace.
    let text = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let start = text.iter().position(|b| !b.is_ascii_whitespace())?;
    if text[start] != b'<' {
        return None;
    }
    let head: Vec<u8> = text[start..]
        .iter()
        .take(1024)
        .map(u8::to_ascii_lowercase)
        .collect();
    let has = |needle: &[u8]| head.windows(needle.len()).any(|w| w == needle);
    Some(if has(b"<svg") {
        "svg"
    } else if head.starts_with(b"<?xml") {
        "xml"
    } else {
        "html"
    })
}

/// What [`inspect`] found in an acceptable file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inspected {
    /// The type, as sniffed (and declared).
    pub media_type: MediaType,
    /// Width and height in pixels, for images.
    pub dimensions: Option<(u32, u32)>,
}

/// Why [`inspect`] refused a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No bytes at all.
    Empty,
    /// The bytes are not JPEG, PNG or PDF.
    Unsupported(Sniffed),
    /// The bytes are an accepted type, but not the declared one.
    Mismatch {
        /// What the `Content-Type` said.
        declared: MediaType,
        /// What the bytes are.
        detected: MediaType,
    },
    /// The type is right but its structure is not readable: an image without dimensions, a
    /// PDF without its end-of-file marker (a cut-off upload).
    Unreadable(MediaType),
    /// An image with fewer pixels than the purpose needs.
    TooSmall {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// An image larger than [`MAX_SIDE`] or [`MAX_PIXELS`].
    TooLarge {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
}

/// Checks a whole upload declared as `declared` against `rules`: magic bytes, then structure,
/// then (for images) dimensions read from the header only. Never panics, whatever the input.
pub fn inspect(bytes: &[u8], declared: MediaType, rules: &Rules) -> Result<Inspected, Refusal> {
    if bytes.is_empty() {
        return Err(Refusal::Empty);
    }
    let detected = match sniff(bytes) {
        Sniffed::Accepted(t) => t,
        other => return Err(Refusal::Unsupported(other)),
    };
    if detected != declared {
        return Err(Refusal::Mismatch { declared, detected });
    }
    if detected == MediaType::Pdf {
        // ISO 32000-1 §7.5.5: the last line is `%%EOF`; readers tolerate some trailing bytes,
        // Acrobat up to 1024.
        let tail = &bytes[bytes.len().saturating_sub(1024)..];
        if !tail.windows(5).any(|w| w == b"%%EOF") {
            return Err(Refusal::Unreadable(detected));
        }
        return Ok(Inspected {
            media_type: detected,
            dimensions: None,
        });
    }
    let expected = match detected {
        MediaType::Png => imagesize::ImageType::Png,
        _ => imagesize::ImageType::Jpeg,
    };
    if imagesize::image_type(bytes).ok() != Some(expected) {
        return Err(Refusal::Unreadable(detected));
    }
    let size = imagesize::blob_size(bytes).map_err(|_| Refusal::Unreadable(detected))?;
    let (Ok(width), Ok(height)) = (u32::try_from(size.width), u32::try_from(size.height)) else {
        return Err(Refusal::Unreadable(detected));
    };
    if width == 0 || height == 0 {
        return Err(Refusal::Unreadable(detected));
    }
    if width > MAX_SIDE || height > MAX_SIDE || u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(Refusal::TooLarge { width, height });
    }
    if width.min(height) < rules.min_short_side || width.max(height) < rules.min_long_side {
        return Err(Refusal::TooSmall { width, height });
    }
    Ok(Inspected {
        media_type: detected,
        dimensions: Some((width, height)),
    })
}

/// The SM3 digest of `bytes` (GB/T 32905-2016): the content's address.
pub fn sm3(bytes: &[u8]) -> [u8; 32] {
    Sm3::digest(bytes).into()
}

// ---- file names ----------------------------------------------------------------------------

/// Longest file name accepted from a client, in characters.
pub const MAX_FILENAME_CHARS: usize = 255;

/// Characters that reorder or hide text (bidirectional overrides, zero-width marks): a name
/// such as `invoice\u{202E}gpj.exe` would otherwise read as `invoiceexe.jpg`.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}'
    )
}

/// A client's file name made safe to store and show: the last path component, without
/// control or invisible characters, without characters that file systems or header syntax
/// reserve, whitespace collapsed, leading and trailing dots and spaces trimmed, and runs of 11
/// or more digits (phone, identity and account numbers) masked. `None` when nothing is left.
/// The caller checks [`MAX_FILENAME_CHARS`] first; nothing here makes a name longer.
pub fn sanitise_filename(raw: &str) -> Option<String> {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let mut out = String::with_capacity(base.len());
    let mut space = false;
    for c in base.chars() {
        if c.is_whitespace() {
            space = true;
            continue;
        }
        if c.is_control() || is_invisible(c) {
            continue;
        }
        if space && !out.is_empty() {
            out.push(' ');
        }
        space = false;
        out.push(if matches!(c, '"' | '<' | '>' | ':' | '|' | '?' | '*') {
            '_'
        } else {
            c
        });
    }
    let trimmed = out.trim_matches(|c: char| c == '.' || c == ' ');
    if trimmed.is_empty() {
        return None;
    }
    Some(mask_digit_runs(trimmed))
}

/// The name a download is saved under: the stored name with an extension that matches the
/// content (`licence.exe` becomes `licence.exe.jpg`), or `<id>.<ext>` without one.
pub fn download_name(stored: Option<&str>, id: uuid::Uuid, media_type: MediaType) -> String {
    let ext = media_type.extension();
    let Some(name) = stored else {
        return format!("{id}.{ext}");
    };
    let has_right_extension = name.rsplit_once('.').is_some_and(|(stem, e)| {
        !stem.is_empty()
            && media_type
                .extensions()
                .iter()
                .any(|x| x.eq_ignore_ascii_case(e))
    });
    if has_right_extension {
        name.to_owned()
    } else {
        format!("{name}.{ext}")
    }
}

// ---- the store -----------------------------------------------------------------------------

/// Where uploaded bytes live: an [`ObjectStore`] addressed by content.
///
/// Cheap to clone (an `Arc`). Keys are `sm3/<first two hex digits>/<all 64 hex digits>`, so
/// identical bytes are one object however often and by whomever they are uploaded, and a
/// local folder never holds more than a few thousand entries in one directory.
#[derive(Debug, Clone)]
pub struct FileStore {
    objects: Arc<dyn ObjectStore>,
}

/// Why a [`FileStore`] could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum FileStoreError {
    /// The folder could not be created.
    #[error("creating {}: {source}", path.display())]
    Create {
        /// The folder.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The object store refused the folder.
    #[error("opening {}: {source}", path.display())]
    Open {
        /// The folder.
        path: PathBuf,
        /// What went wrong.
        source: object_store::Error,
    },
}

impl FileStore {
    /// A store over any object store (an S3-compatible bucket, for scale).
    pub fn new(objects: Arc<dyn ObjectStore>) -> Self {
        FileStore { objects }
    }

    /// A store in a local folder, created if missing. Writes are fsynced before they count:
    /// a `files` row is committed right after its object is written, and a row whose bytes a
    /// power cut lost would be a file nobody can read.
    pub fn local(dir: &Path) -> Result<Self, FileStoreError> {
        std::fs::create_dir_all(dir).map_err(|source| FileStoreError::Create {
            path: dir.to_owned(),
            source,
        })?;
        let objects = LocalFileSystem::new_with_prefix(dir)
            .map_err(|source| FileStoreError::Open {
                path: dir.to_owned(),
                source,
            })?
            .with_fsync(true);
        Ok(FileStore::new(Arc::new(objects)))
    }

    /// A store in memory (tests, and processes that never touch files).
    pub fn in_memory() -> Self {
        FileStore::new(Arc::new(InMemory::new()))
    }

    /// The object store underneath.
    pub fn objects(&self) -> &Arc<dyn ObjectStore> {
        &self.objects
    }

    /// The key of the object with this SM3: `sm3/ab/abcdef…`.
    pub fn key(sm3: &[u8; 32]) -> object_store::path::Path {
        let hex = hex::encode(sm3);
        object_store::path::Path::from(format!("sm3/{}/{hex}", &hex[..2]))
    }

    /// Stores `bytes` under their SM3 unless an object is already there (its content is the
    /// same, by construction).
    pub async fn put(&self, sm3: &[u8; 32], bytes: Bytes) -> Result<(), object_store::Error> {
        let options = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self
            .objects
            .put_opts(&FileStore::key(sm3), PutPayload::from(bytes), options)
            .await
        {
            Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The bytes stored under this SM3.
    pub async fn get(&self, sm3: &[u8; 32]) -> Result<Bytes, object_store::Error> {
        self.objects.get(&FileStore::key(sm3)).await?.bytes().await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

    use super::*;
    use proptest::prelude::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut v = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        v.extend(width.to_be_bytes());
        v.extend(height.to_be_bytes());
        v.extend([8, 2, 0, 0, 0, 0, 0, 0, 0]);
        v
    }

    fn jpeg(width: u16, height: u16) -> Vec<u8> {
        let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 16];
        v.extend(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        v.extend([0xFF, 0xC0, 0, 11, 8]);
        v.extend(height.to_be_bytes());
        v.extend(width.to_be_bytes());
        v.extend([1, 1, 0x11, 0, 0xFF, 0xD9]);
        v
    }

    const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n";

    #[test]
    fn magic_bytes_decide_the_type() {
        assert_eq!(sniff(&png(1, 1)), Sniffed::Accepted(MediaType::Png));
        assert_eq!(sniff(&jpeg(1, 1)), Sniffed::Accepted(MediaType::Jpeg));
        assert_eq!(sniff(PDF), Sniffed::Accepted(MediaType::Pdf));
        assert_eq!(sniff(b"MZ\x90\0\x03"), Sniffed::Other("exe"));
        assert_eq!(sniff(b"PK\x03\x04rest"), Sniffed::Other("zip"));
        assert_eq!(sniff(b"\n  <!DOCTYPE html><html>"), Sniffed::Other("html"));
        assert_eq!(
            sniff(b"\xef\xbb\xbf<?xml version=\"1.0\"?><svg xmlns=\"\">"),
            Sniffed::Other("svg")
        );
        assert_eq!(
            sniff(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic"),
            Sniffed::Other("heic")
        );
        assert_eq!(sniff(b"GIF89a\x01\0\x01\0"), Sniffed::Other("gif"));
        assert_eq!(sniff(b"just some text"), Sniffed::Unknown);
        // A PDF header anywhere but at the start is a polyglot, not a PDF.
        assert_eq!(sniff(b" %PDF-1.4"), Sniffed::Unknown);
    }

    #[test]
    fn dimensions_are_read_from_the_header_and_checked_both_ways() {
        let rules = Purpose::IdCardFront.rules();
        let ok = inspect(&jpeg(1280, 800), MediaType::Jpeg, &rules).unwrap();
        assert_eq!(ok.dimensions, Some((1280, 800)));
        // Portrait is as good as landscape.
        assert!(inspect(&png(800, 1280), MediaType::Png, &rules).is_ok());
        assert_eq!(
            inspect(&png(640, 399), MediaType::Png, &rules),
            Err(Refusal::TooSmall {
                width: 640,
                height: 399
            })
        );
        assert_eq!(
            inspect(&png(30_000, 30_000), MediaType::Png, &rules),
            Err(Refusal::TooLarge {
                width: 30_000,
                height: 30_000
            })
        );
        // Each side within bounds, too many pixels together.
        assert!(matches!(
            inspect(&png(9_000, 9_000), MediaType::Png, &rules),
            Err(Refusal::TooLarge { .. })
        ));
        assert_eq!(
            inspect(&png(0, 800), MediaType::Png, &rules),
            Err(Refusal::Unreadable(MediaType::Png))
        );
        // A JPEG cut off before its frame header has no dimensions.
        assert_eq!(
            inspect(&jpeg(1280, 800)[..10], MediaType::Jpeg, &rules),
            Err(Refusal::Unreadable(MediaType::Jpeg))
        );
    }

    #[test]
    fn the_declared_type_must_be_the_real_one() {
        let rules = Purpose::Other.rules();
        assert_eq!(
            inspect(&png(800, 800), MediaType::Jpeg, &rules),
            Err(Refusal::Mismatch {
                declared: MediaType::Jpeg,
                detected: MediaType::Png
            })
        );
        assert_eq!(
            inspect(b"<html>", MediaType::Pdf, &rules),
            Err(Refusal::Unsupported(Sniffed::Other("html")))
        );
        assert_eq!(inspect(b"", MediaType::Pdf, &rules), Err(Refusal::Empty));
        assert!(inspect(PDF, MediaType::Pdf, &rules).is_ok());
        assert_eq!(
            inspect(&PDF[..30], MediaType::Pdf, &rules),
            Err(Refusal::Unreadable(MediaType::Pdf)),
            "a PDF without %%EOF was cut off"
        );
    }

    #[test]
    fn content_types_are_read_by_essence() {
        assert_eq!(MediaType::parse("image/jpeg"), Some(MediaType::Jpeg));
        assert_eq!(MediaType::parse("Image/PNG; q=1"), Some(MediaType::Png));
        assert_eq!(MediaType::parse("application/pdf"), Some(MediaType::Pdf));
        assert_eq!(MediaType::parse("text/plain"), None);
        assert_eq!(MediaType::parse("image/svg+xml"), None);
        assert_eq!(MediaType::parse(""), None);
    }

    #[test]
    fn purposes_round_trip_and_identity_documents_are_images_only() {
        for p in Purpose::ALL {
            assert_eq!(Purpose::parse(p.as_str()), Some(p));
            let r = p.rules();
            assert!(r.min_short_side <= r.min_long_side, "{p:?}");
        }
        assert_eq!(Purpose::parse("Business_Licence"), None);
        assert!(!Purpose::IdCardBack.rules().types.contains(&MediaType::Pdf));
        assert!(
            Purpose::AuthorisationLetter
                .rules()
                .types
                .contains(&MediaType::Pdf)
        );
    }

    #[test]
    fn file_names_are_sanitised_and_masked() {
        assert_eq!(
            sanitise_filename("C:\\Users\\me\\营业执照.jpg").as_deref(),
            Some("营业执照.jpg")
        );
        assert_eq!(
            sanitise_filename("../../etc/passwd").as_deref(),
            Some("passwd")
        );
        assert_eq!(
            sanitise_filename("invoice\u{202E}gpj.exe").as_deref(),
            Some("invoicegpj.exe")
        );
        assert_eq!(
            sanitise_filename("  a\t\"b\"  <c>.pdf\r\n").as_deref(),
            Some("a _b_ _c_.pdf")
        );
        assert_eq!(
            sanitise_filename("张三 18600008621 身份证11010519491231002X.png").as_deref(),
            Some("张三 186****8621 身份证110105*****002X.png")
        );
        assert_eq!(sanitise_filename("..."), None);
        assert_eq!(sanitise_filename("dir/"), None);
        assert_eq!(sanitise_filename(""), None);
    }

    #[test]
    fn download_names_carry_an_extension_of_their_content() {
        let id = uuid::Uuid::nil();
        assert_eq!(
            download_name(Some("执照.JPEG"), id, MediaType::Jpeg),
            "执照.JPEG"
        );
        assert_eq!(
            download_name(Some("licence.exe"), id, MediaType::Jpeg),
            "licence.exe.jpg"
        );
        assert_eq!(download_name(Some(".pdf"), id, MediaType::Pdf), ".pdf.pdf");
        assert_eq!(download_name(None, id, MediaType::Pdf), format!("{id}.pdf"));
    }

    #[test]
    fn keys_spread_by_the_first_byte() {
        let key = FileStore::key(&sm3(b"abc"));
        assert_eq!(
            key.as_ref(),
            "sm3/66/66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0",
            "SM3(\"abc\") is the GB/T 32905 test vector"
        );
    }

    #[tokio::test]
    async fn storing_the_same_bytes_again_is_not_an_error() {
        let store = FileStore::in_memory();
        let bytes = Bytes::from_static(b"same");
        let hash = sm3(&bytes);
        store.put(&hash, bytes.clone()).await.unwrap();
        store.put(&hash, bytes.clone()).await.unwrap();
        assert_eq!(store.get(&hash).await.unwrap(), bytes);
        assert!(matches!(
            store.get(&sm3(b"other")).await,
            Err(object_store::Error::NotFound { .. })
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn sniffing_and_inspecting_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = sniff(&bytes);
            for declared in MediaType::ALL {
                let _ = inspect(&bytes, declared, &Purpose::Other.rules());
            }
        }

        #[test]
        fn inspecting_damaged_real_headers_never_panics(
            kind in 0..3usize,
            cut in 0..64usize,
            flips in proptest::collection::vec((0..64usize, any::<u8>()), 0..6),
        ) {
            // Random bytes rarely get past the magic numbers; damaged real files do.
            let mut bytes = match kind {
                0 => png(800, 600),
                1 => jpeg(800, 600),
                _ => PDF.to_vec(),
            };
            for (at, value) in flips {
                if let Some(b) = bytes.get_mut(at) {
                    *b = value;
                }
            }
            bytes.truncate(cut.max(1));
            for declared in MediaType::ALL {
                let _ = inspect(&bytes, declared, &Purpose::SealImage.rules());
            }
        }
    }
}
