# A version is imported by namespace/application/version.
terraform import flink_application_version.v1 streaming/fraud-detector/v1
