//! `lms.pathway.v1.ContentPackageService` (importing a cmi5 course package, its ZIP file
//! streamed in) and `ContentFileService` (public: a package's files streamed out by its key).

use lms_platform::AppError;
use lms_platform::auth::principal;
use lms_platform::ids::PathwayId;
use lms_platform::resource::timestamp;
use lms_proto::pathway_v1 as pb;
use tokio::io::AsyncWriteExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::convert;
use crate::app::{PackageImport, PathwayApp};
use crate::domain::package::{CHUNK_BYTES, ContentPackage};

pub struct ContentPackageGrpc {
    app: PathwayApp,
}

impl ContentPackageGrpc {
    pub fn new(app: PathwayApp) -> Self {
        Self { app }
    }
}

fn package(package: ContentPackage, public_url: &str) -> pb::ContentPackage {
    pb::ContentPackage {
        base_url: package.base_url(public_url),
        id: package.id,
        pathway_id: package.pathway_id,
        file_count: package.file_count,
        total_bytes: package.total_bytes,
        import_time: Some(timestamp(package.imported_at)),
        imported_by: package.imported_by,
    }
}

fn spool_failed(error: std::io::Error) -> Status {
    AppError::Internal(anyhow::anyhow!("spooling a package: {error}")).into()
}

#[tonic::async_trait]
impl pb::content_package_service_server::ContentPackageService for ContentPackageGrpc {
    async fn import_cmi5_package(
        &self,
        request: Request<Streaming<pb::ImportCmi5PackageRequest>>,
    ) -> Result<Response<pb::ImportCmi5PackageResponse>, Status> {
        let who = principal(&request)?;
        let mut messages = request.into_inner();
        let (header, first_bytes, mut ended) = match messages.message().await? {
            Some(pb::ImportCmi5PackageRequest {
                header: Some(header),
                chunk,
                end,
            }) => (header, chunk, end),
            _ => {
                return Err(AppError::invalid_field(
                    "header",
                    "must be in the first message (the ZIP file's bytes follow it)",
                )
                .into());
            }
        };
        let pathway_id = PathwayId::parse("header.pathway_id", &header.pathway_id)?;
        // Refused before any bytes are taken: a pathway the caller may not change.
        self.app
            .check_package_target(&who, &pathway_id, &header.etag)
            .await?;
        if header.language.chars().count() > 35 {
            return Err(AppError::invalid_field(
                "header.language",
                "must be at most 35 characters",
            )
            .into());
        }
        // The ZIP file is spooled to an unnamed temporary file (gone when closed): its
        // directory is at its end and is read with seeks.
        let settings = self.app.package_settings().clone();
        let spooled = tempfile::tempfile().map_err(spool_failed)?;
        let mut file = tokio::fs::File::from_std(spooled);
        let mut received = 0u64;
        let mut next = Some(first_bytes);
        while let Some(bytes) = next {
            received += bytes.len() as u64;
            if received > settings.max_bytes {
                return Err(AppError::invalid_field(
                    "package",
                    format!("is larger than the {} bytes allowed", settings.max_bytes),
                )
                .into());
            }
            file.write_all(&bytes).await.map_err(spool_failed)?;
            next = match messages.message().await? {
                Some(message) if message.header.is_some() => {
                    return Err(AppError::invalid_field(
                        "header",
                        "must be sent once, in the first message",
                    )
                    .into());
                }
                Some(_) if ended => {
                    return Err(AppError::invalid_field("end", "must be the last message").into());
                }
                Some(message) => {
                    ended = message.end;
                    Some(message.chunk)
                }
                None => None,
            };
        }
        if !ended {
            // The sender stopped before saying the file was whole: it was cut short.
            return Err(AppError::invalid_field(
                "end",
                "the stream ended without its end message; nothing was imported",
            )
            .into());
        }
        if received == 0 {
            return Err(AppError::invalid_field(
                "package",
                "is empty: send the ZIP file's bytes after the header",
            )
            .into());
        }
        file.flush().await.map_err(spool_failed)?;
        let file = file.into_std().await;
        let import = PackageImport {
            pathway_id,
            language: header.language,
            etag: header.etag,
        };
        let (pathway, kept) = self.app.import_cmi5_package(&who, import, file).await?;
        Ok(Response::new(pb::ImportCmi5PackageResponse {
            pathway: Some(convert::pathway(pathway)),
            package: Some(package(kept, &settings.public_url)),
        }))
    }
}

/// The bytes `[start, end)` of a file of `size` a request asks for (see
/// `ReadContentFileRequest`); OUT_OF_RANGE for a start at or past the end of a file that is
/// not empty.
fn byte_range(size: i64, offset: i64, length: i64) -> Result<(i64, i64), Status> {
    let start = if offset < 0 {
        size.saturating_add(offset).max(0)
    } else {
        offset
    };
    if start >= size && size > 0 {
        return Err(Status::out_of_range(format!(
            "the file has {size} bytes; the range starts at {start}"
        )));
    }
    let end = match length {
        0 => size,
        length => start.saturating_add(length.max(0)).min(size),
    };
    Ok((start.min(size), end))
}

pub struct ContentFileGrpc {
    app: PathwayApp,
}

impl ContentFileGrpc {
    pub fn new(app: PathwayApp) -> Self {
        Self { app }
    }
}

#[tonic::async_trait]
impl pb::content_file_service_server::ContentFileService for ContentFileGrpc {
    type ReadContentFileStream = ReceiverStream<Result<pb::ContentFileChunk, Status>>;

    /// The file's parts are read one at a time as the reader takes them (two in flight at
    /// most), so a large file never sits whole in memory.
    async fn read_content_file(
        &self,
        request: Request<pb::ReadContentFileRequest>,
    ) -> Result<Response<Self::ReadContentFileStream>, Status> {
        let pb::ReadContentFileRequest {
            access_key,
            path,
            offset,
            length,
        } = request.into_inner();
        let found = self
            .app
            .content_file(access_key.clone(), path.clone())
            .await?;
        let (start, end) = byte_range(found.size, offset, length)?;
        let (sender, receiver) = tokio::sync::mpsc::channel(2);
        let app = self.app.clone();
        tokio::spawn(async move {
            let mut first = Some((found.content_type, found.size, start));
            let chunk_bytes = CHUNK_BYTES as i64;
            // The parts that hold [start, end), each cut to what lies inside it.
            let mut seq = start / chunk_bytes;
            while seq * chunk_bytes < end {
                let read = app
                    .content_chunk(
                        found.tenant.clone(),
                        access_key.clone(),
                        path.clone(),
                        seq as i32,
                    )
                    .await;
                let mut data = match read {
                    Ok(Some(data)) => data,
                    Ok(None) => break,
                    Err(error) => {
                        let _ = sender.send(Err(error.into())).await;
                        return;
                    }
                };
                let at = seq * chunk_bytes;
                let from = (start - at).clamp(0, data.len() as i64) as usize;
                let to = (end - at).clamp(0, data.len() as i64) as usize;
                data.truncate(to);
                data.drain(..from);
                let (content_type, size, offset) = first.take().unwrap_or_default();
                let chunk = pb::ContentFileChunk {
                    content_type,
                    size,
                    data,
                    offset,
                };
                if sender.send(Ok(chunk)).await.is_err() {
                    return; // the reader went away
                }
                seq += 1;
            }
            if let Some((content_type, size, offset)) = first {
                // An empty file (or range): its type and size alone.
                let chunk = pb::ContentFileChunk {
                    content_type,
                    size,
                    data: Vec::new(),
                    offset,
                };
                let _ = sender.send(Ok(chunk)).await;
            }
        });
        Ok(Response::new(ReceiverStream::new(receiver)))
    }
}

#[cfg(test)]
mod tests {
    use super::byte_range;

    #[test]
    fn ranges_are_read_as_http_reads_them() {
        assert_eq!(byte_range(100, 0, 0).unwrap(), (0, 100));
        assert_eq!(byte_range(100, 10, 20).unwrap(), (10, 30));
        assert_eq!(byte_range(100, 90, 50).unwrap(), (90, 100));
        assert_eq!(byte_range(100, -30, 0).unwrap(), (70, 100));
        assert_eq!(byte_range(100, -300, 0).unwrap(), (0, 100));
        assert_eq!(byte_range(0, 0, 0).unwrap(), (0, 0));
        assert_eq!(
            byte_range(100, 100, 0).unwrap_err().code(),
            tonic::Code::OutOfRange
        );
        assert_eq!(byte_range(100, 1, i64::MAX).unwrap(), (1, 100));
        assert_eq!(byte_range(100, i64::MIN, 0).unwrap(), (0, 100));
        assert_eq!(
            byte_range(100, i64::MAX, 0).unwrap_err().code(),
            tonic::Code::OutOfRange
        );
    }
}
