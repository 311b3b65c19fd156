//! cmi5 course packages (cmi5 14): a ZIP file whose `cmi5.xml` becomes the pathway's steps
//! and whose files are kept, in parts, to be served under the package's address.
//!
//! The ZIP file arrives spooled to a temporary file (a ZIP's directory is at its end, so it
//! is read with seeks); its directory and course structure are checked before anything is
//! written, then its files are copied part by part into the same transaction that changes the
//! pathway's draft. Neither step holds more than one part of a file in memory.

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;

use lms_platform::db::DbConnection;
use lms_platform::ids::{PathwayId, TenantId};
use lms_platform::parts::each_part;
use lms_platform::{AppError, AppResult, Principal};

use super::PathwayApp;
use crate::domain::cmi5::{ImportedUnit, read_course_structure};
use crate::domain::package::{self, COURSE_STRUCTURE, ContentPackage, DeclaredEntries};
use crate::domain::pathway::Pathway;
use crate::storage::packages as package_rows;

pub use crate::storage::packages::FoundFile;

/// The largest course structure read, as ImportCmi5Course's.
const MAX_COURSE_STRUCTURE_BYTES: u64 = 4 << 20;

/// Where packages are served and how large they may be (`[pathway]` settings).
#[derive(Debug, Clone)]
pub struct PackageSettings {
    /// The gateway's address as browsers reach it, without a trailing '/'.
    pub public_url: String,
    /// The most bytes a package may have, packed and unpacked alike.
    pub max_bytes: u64,
}

impl Default for PackageSettings {
    fn default() -> Self {
        Self {
            public_url: "http://127.0.0.1:8080".into(),
            max_bytes: 256 << 20,
        }
    }
}

/// What an import names besides the ZIP file.
pub struct PackageImport {
    pub pathway_id: PathwayId,
    pub language: String,
    pub etag: String,
}

/// A package's files as its ZIP directory lists them, and its course's AUs.
struct Listing {
    files: Vec<ListedFile>,
    total_bytes: u64,
    units: Vec<ImportedUnit>,
}

struct ListedFile {
    index: usize,
    path: String,
    size: u64,
}

impl PathwayApp {
    pub fn package_settings(&self) -> &PackageSettings {
        &self.packages
    }

    /// Imports the package in `zip` (a spooled ZIP file) into the pathway's draft: its
    /// course's AUs as ImportCmi5Course adds them, relative launch URLs resolved against the
    /// package's address, and its files kept.
    pub async fn import_cmi5_package(
        &self,
        who: &Principal,
        import: PackageImport,
        zip: File,
    ) -> AppResult<(Pathway, ContentPackage)> {
        let access_key = package::new_access_key();
        let base_url = package::base_url(&self.packages.public_url, &access_key);
        let max_bytes = self.packages.max_bytes;
        let language = import.language.trim().to_string();
        let (zip, listing) = tokio::task::spawn_blocking(move || {
            let listing = list(&zip, max_bytes, &base_url, &language)?;
            Ok::<_, AppError>((zip, listing))
        })
        .await
        .map_err(|error| AppError::Internal(anyhow::anyhow!("reading a package: {error}")))??;
        let package = ContentPackage {
            id: lms_platform::validate::new_id(),
            pathway_id: import.pathway_id.to_string(),
            access_key,
            file_count: listing.files.len() as i32,
            total_bytes: listing.total_bytes as i64,
            imported_at: crate::domain::now(),
            imported_by: who.subject.clone(),
        };
        let kept = package.clone();
        let actor = who.subject.clone();
        let pathway = self
            .edit_draft(
                who,
                import.pathway_id,
                import.etag,
                move |conn, tenant, pathway| {
                    package_rows::insert(conn, tenant, &kept)?;
                    store_files(conn, tenant, &zip, &kept.access_key, &listing.files)?;
                    super::pathways::add_imported_units(pathway, listing.units, &actor)?;
                    Ok(true)
                },
            )
            .await?;
        Ok((pathway, package))
    }

    /// Refuses, before a package's bytes are taken, a pathway the caller may not change: not
    /// found (or outside the caller's categories), archived, or at another revision than
    /// `etag` says. The import checks all of it again in its transaction.
    pub async fn check_package_target(
        &self,
        who: &Principal,
        pathway_id: &PathwayId,
        etag: &str,
    ) -> AppResult<()> {
        let reach = self.administered(who).await?;
        let tenant = who.tenant_id.clone();
        let id = pathway_id.clone();
        let etag = etag.to_string();
        self.db
            .read(move |conn| {
                let pathway = crate::storage::pathways::get(conn, &tenant, &id)?;
                let outside = || AppError::not_found(format!("pathway {id}"));
                super::require_in_reach(
                    conn,
                    &tenant,
                    &reach,
                    &pathway.settings.category_id,
                    outside,
                )?;
                crate::domain::check_etag(&etag, pathway.revision)?;
                if pathway.status == crate::domain::pathway::PathwayStatus::Archived {
                    return Err(AppError::FailedPrecondition(
                        "an archived pathway cannot change".into(),
                    ));
                }
                Ok(())
            })
            .await
    }

    /// A package's file by its key and path, in whichever tenant; NOT_FOUND otherwise.
    pub async fn content_file(&self, access_key: String, path: String) -> AppResult<FoundFile> {
        let missing = || AppError::not_found("content file");
        if package::file_path(&path).is_err() || access_key.len() != 32 {
            return Err(missing());
        }
        self.db
            .read(move |conn| package_rows::find_file(conn, &access_key, &path))
            .await?
            .ok_or_else(missing)
    }

    /// The `seq`th part of a file found by [`Self::content_file`]; None past its last.
    pub async fn content_chunk(
        &self,
        tenant: TenantId,
        access_key: String,
        path: String,
        seq: i32,
    ) -> AppResult<Option<Vec<u8>>> {
        self.db
            .read(move |conn| package_rows::chunk(conn, &tenant, &access_key, &path, seq))
            .await
    }
}

fn refused(message: String) -> AppError {
    AppError::invalid_field("package", message)
}

/// Checks the ZIP file's directory (paths inside the package, each once, within the size
/// limit) and reads its course structure with relative URLs resolved against `base_url`.
fn list(zip: &File, max_bytes: u64, base_url: &str, language: &str) -> AppResult<Listing> {
    // Counted from the file's end before the directory is read: a directory of millions of
    // entries is refused without being held in memory.
    if let Some(entries) = declared_entries(zip)
        && entries > package::MAX_FILES as u64
    {
        return Err(refused(format!(
            "declares {entries} entries; at most {} are read",
            package::MAX_FILES
        )));
    }
    let mut archive = zip::ZipArchive::new(zip)
        .map_err(|error| refused(format!("is not a ZIP file ({error})")))?;
    if archive.len() > package::MAX_FILES {
        return Err(refused(format!(
            "holds {} entries; at most {} are read",
            archive.len(),
            package::MAX_FILES
        )));
    }
    let mut files = Vec::new();
    let mut seen = HashSet::new();
    let mut total_bytes = 0u64;
    for index in 0..archive.len() {
        let entry = archive
            .by_index_raw(index)
            .map_err(|error| refused(format!("entry {index} cannot be read ({error})")))?;
        if entry.is_dir() {
            continue;
        }
        let name = entry
            .name()
            .map_err(|error| {
                refused(format!(
                    "entry {index} has a name that cannot be read ({error})"
                ))
            })?
            .to_string();
        let path = package::file_path(&name)
            .map_err(|why| refused(format!("file {name:?} {why}")))?
            .to_string();
        if !seen.insert(path.clone()) {
            return Err(refused(format!("holds {path:?} twice")));
        }
        total_bytes = total_bytes.saturating_add(entry.size());
        if total_bytes > max_bytes {
            return Err(refused(format!(
                "unpacks to more than the {max_bytes} bytes allowed"
            )));
        }
        files.push(ListedFile {
            index,
            path,
            size: entry.size(),
        });
    }
    let Some(structure) = files.iter().find(|f| f.path == COURSE_STRUCTURE) else {
        return Err(refused(format!(
            "has no {COURSE_STRUCTURE} at its root (cmi5 14.1)"
        )));
    };
    let mut text = String::new();
    archive
        .by_index(structure.index)
        .map_err(|error| unreadable(COURSE_STRUCTURE, error))?
        .take(MAX_COURSE_STRUCTURE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|error| {
            refused(format!(
                "{COURSE_STRUCTURE} cannot be read as UTF-8 text ({error})"
            ))
        })?;
    if text.len() as u64 > MAX_COURSE_STRUCTURE_BYTES {
        return Err(refused(format!("{COURSE_STRUCTURE} is larger than 4 MiB")));
    }
    let base = url::Url::parse(base_url)
        .map_err(|error| AppError::Internal(anyhow::anyhow!("a package's address: {error}")))?;
    let units = read_course_structure(&text, Some(&base), language).map_err(|violations| {
        violations
            .finish()
            .err()
            .unwrap_or_else(|| refused(format!("{COURSE_STRUCTURE} is not a course structure")))
    })?;
    Ok(Listing {
        files,
        total_bytes,
        units,
    })
}

/// The entry count the file's end declares; None when it cannot be read there (the ZIP reader
/// then says what is wrong).
fn declared_entries(mut zip: &File) -> Option<u64> {
    use std::io::Seek;
    let length = zip.metadata().ok()?.len();
    let tail_length = length.min(package::EOCD_SEARCH);
    let mut tail = vec![0u8; tail_length as usize];
    zip.seek(std::io::SeekFrom::Start(length - tail_length))
        .ok()?;
    zip.read_exact(&mut tail).ok()?;
    match package::declared_entries(&tail)? {
        DeclaredEntries::Counted(entries) => Some(entries),
        DeclaredEntries::Zip64At(offset) => {
            let mut record = [0u8; 56];
            zip.seek(std::io::SeekFrom::Start(offset)).ok()?;
            zip.read_exact(&mut record).ok()?;
            package::zip64_entries(&record)
        }
    }
}

fn unreadable(path: &str, error: impl std::fmt::Display) -> AppError {
    refused(format!("file {path:?} cannot be unpacked ({error})"))
}

/// Copies each listed file into the package, part by part. A file whose bytes are not what
/// its directory entry says (size, or the CRC-32 the unpacking checks) refuses the package.
fn store_files(
    conn: &mut DbConnection,
    tenant: &TenantId,
    zip: &File,
    access_key: &str,
    files: &[ListedFile],
) -> AppResult<()> {
    let mut archive = zip::ZipArchive::new(zip)
        .map_err(|error| refused(format!("is not a ZIP file ({error})")))?;
    for file in files {
        let content_type = package::content_type(&file.path);
        package_rows::insert_file(
            conn,
            tenant,
            access_key,
            &file.path,
            &content_type,
            file.size as i64,
        )?;
        let mut entry = archive
            .by_index(file.index)
            .map_err(|error| unreadable(&file.path, error))?;
        // Stopped as soon as an entry unpacks past what its directory says (a ZIP bomb).
        let mut copied = 0u64;
        each_part(
            &mut entry,
            package::CHUNK_BYTES,
            |seq, part| {
                copied += part.len() as u64;
                if copied > file.size {
                    return Err(refused(format!(
                        "file {:?} unpacks to more than the {} bytes its entry says",
                        file.path, file.size
                    )));
                }
                package_rows::insert_chunk(conn, tenant, access_key, &file.path, seq, part)
            },
            |error| unreadable(&file.path, error),
        )?;
        if copied != file.size {
            return Err(refused(format!(
                "file {:?} unpacks to {copied} bytes, not the {} its entry says",
                file.path, file.size
            )));
        }
    }
    Ok(())
}
