//! Generates the tonic/prost code for every `.proto` under `proto/lms` and writes the encoded
//! descriptor set (with imports) that server reflection and the gateway read.
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    // A vendored protoc: a fresh machine needs no system package.
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let well_known = protoc_bin_vendored::include_path()?;

    let protos = [
        PathBuf::from("lms/common/v1/common.proto"),
        PathBuf::from("lms/pathway/v1/pathway.proto"),
        PathBuf::from("lms/pathway/v1/content.proto"),
        PathBuf::from("lms/enrolment/v1/enrolment.proto"),
        PathBuf::from("lms/enrolment/v1/role_bindings.proto"),
        PathBuf::from("lms/assessment/v1/assessment.proto"),
        PathBuf::from("lms/records/v1/records.proto"),
        PathBuf::from("lms/records/v1/sessions.proto"),
        PathBuf::from("lms/records/v1/cmi5.proto"),
        PathBuf::from("lms/events/v1/events.proto"),
        PathBuf::from("lms/audit/v1/audit.proto"),
        PathBuf::from("lms/privacy/v1/privacy.proto"),
        PathBuf::from("lms/notification/v1/notification.proto"),
        PathBuf::from("lms/notification/v1/webhooks.proto"),
        PathBuf::from("lms/portal/v1/portal.proto"),
        PathBuf::from("lms/xapi/v1/lrs.proto"),
    ];
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc);
    // `prost::Name` on every message, so events can be packed into `Any` with a proper type URL.
    config.enable_type_names();
    config.type_name_domain(["."], "type.googleapis.com");
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("lms_descriptor.bin"))
        .build_client(true)
        .build_server(true)
        .compile_with_config(config, &protos, &[PathBuf::from("."), well_known])?;
    println!("cargo:rerun-if-changed=lms");
    println!("cargo:rerun-if-changed=google");
    Ok(())
}
