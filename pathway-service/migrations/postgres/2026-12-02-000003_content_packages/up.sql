-- cmi5 course packages (cmi5 14): the ZIP files imported as a pathway's steps, whose files the
-- gateway serves at /content/<access_key>/<path>. A package never changes: importing again
-- keeps a new package under a new key, so learners on an older version of the pathway still
-- launch the files it named. The access key is random and is what lets a browser read them.
CREATE TABLE content_packages (
    tenant_id   TEXT NOT NULL,
    id          TEXT NOT NULL,
    access_key  TEXT NOT NULL UNIQUE,
    pathway_id  TEXT NOT NULL,
    file_count  INTEGER NOT NULL,
    total_bytes BIGINT NOT NULL,
    imported_at TIMESTAMP NOT NULL,
    imported_by TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

-- Each file of a package: its path inside the ZIP file ('/'-separated, no leading '/').
CREATE TABLE content_package_files (
    access_key   TEXT NOT NULL,
    path         TEXT NOT NULL,
    tenant_id    TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    PRIMARY KEY (access_key, path)
);

-- A file's bytes in parts of at most 256 KiB, so that neither an import nor a read holds a
-- whole file in memory.
CREATE TABLE content_package_chunks (
    access_key TEXT NOT NULL,
    path       TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    tenant_id  TEXT NOT NULL,
    data       BYTEA NOT NULL,
    PRIMARY KEY (access_key, path, seq)
);
