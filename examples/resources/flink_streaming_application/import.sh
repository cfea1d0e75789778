# An application is imported by namespace/name; version_id is read from its record.
terraform import flink_streaming_application.fraud_detector streaming/fraud-detector
