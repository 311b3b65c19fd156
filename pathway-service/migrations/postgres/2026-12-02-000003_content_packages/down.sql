DROP TABLE content_package_chunks;
DROP TABLE content_package_files;
DROP TABLE content_packages;
