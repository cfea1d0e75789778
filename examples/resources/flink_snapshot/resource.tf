# Take a savepoint of the running application before a risky change; the job keeps running.
resource "flink_snapshot" "before_migration" {
  application     = flink_streaming_application.fraud_detector.name
  namespace       = "streaming"
  deletion_policy = "retain"

  # Change a trigger to take a new one.
  triggers = {
    release = "2024-06-01"
  }
}

# Adopt a savepoint taken outside Terraform (its _metadata must exist).
resource "flink_snapshot" "adopted" {
  application = "fraud-detector"
  namespace   = "streaming"
  path        = "s3://acme-flink-savepoints/prod-eu-1/streaming/fraud-detector/savepoint-3f2a91-0123456789ab"
}

# Copy it to the disaster-recovery bucket.
resource "flink_snapshot" "dr_copy" {
  application        = "fraud-detector"
  namespace          = "streaming"
  source_snapshot_id = flink_snapshot.before_migration.id
  destination_url    = "s3://acme-flink-dr/fraud-detector?region=eu-central-1"
}

# Fork an A/B twin of the application from that state.
resource "flink_streaming_application" "fraud_detector_b" {
  name       = "fraud-detector-b"
  namespace  = "streaming"
  version_id = flink_application_version.b_v1.id

  restore = {
    strategy                 = "snapshot"
    snapshot_id              = flink_snapshot.before_migration.id
    allow_non_restored_state = true
  }
}
