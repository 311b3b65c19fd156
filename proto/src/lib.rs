//! The LMS suite's gRPC contracts.
//!
//! Each package is versioned (`lms.pathway.v1`, ...). [`FILE_DESCRIPTOR_SET`] holds every file
//! with its imports, for server reflection and for the gateway's transcoding.

/// Encoded `google.protobuf.FileDescriptorSet` of all LMS protos and their imports.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/lms_descriptor.bin"));

pub mod google {
    pub mod api {
        #![allow(clippy::doc_lazy_continuation, clippy::doc_overindented_list_items)]
        tonic::include_proto!("google.api");
    }
}

pub mod lms {
    pub mod audit {
        pub mod v1 {
            tonic::include_proto!("lms.audit.v1");
        }
    }
    pub mod assessment {
        pub mod v1 {
            #![allow(clippy::doc_lazy_continuation, clippy::large_enum_variant)]
            tonic::include_proto!("lms.assessment.v1");
        }
    }
    pub mod common {
        pub mod v1 {
            tonic::include_proto!("lms.common.v1");
        }
    }
    pub mod enrolment {
        pub mod v1 {
            #![allow(clippy::doc_lazy_continuation)]
            tonic::include_proto!("lms.enrolment.v1");
        }
    }
    pub mod events {
        pub mod v1 {
            tonic::include_proto!("lms.events.v1");
        }
    }
    pub mod notification {
        pub mod v1 {
            tonic::include_proto!("lms.notification.v1");
        }
    }
    pub mod privacy {
        pub mod v1 {
            tonic::include_proto!("lms.privacy.v1");
        }
    }
    pub mod portal {
        pub mod v1 {
            tonic::include_proto!("lms.portal.v1");
        }
    }
    pub mod records {
        pub mod v1 {
            #![allow(clippy::doc_lazy_continuation)]
            tonic::include_proto!("lms.records.v1");
        }
    }
    pub mod pathway {
        pub mod v1 {
            #![allow(clippy::doc_lazy_continuation, clippy::large_enum_variant)]
            tonic::include_proto!("lms.pathway.v1");
        }
    }
    pub mod xapi {
        pub mod v1 {
            tonic::include_proto!("lms.xapi.v1");
        }
    }
}

pub use lms::assessment::v1 as assessment_v1;
pub use lms::audit::v1 as audit_v1;
pub use lms::common::v1 as common_v1;
pub use lms::enrolment::v1 as enrolment_v1;
pub use lms::events::v1 as events_v1;
pub use lms::notification::v1 as notification_v1;
pub use lms::pathway::v1 as pathway_v1;
pub use lms::portal::v1 as portal_v1;
pub use lms::privacy::v1 as privacy_v1;
pub use lms::records::v1 as records_v1;
pub use lms::xapi::v1 as xapi_v1;
