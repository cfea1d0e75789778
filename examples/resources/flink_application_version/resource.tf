resource "flink_application_version" "v1" {
  application   = "fraud-detector"
  namespace     = "streaming"
  version       = "v1"
  description   = "First release: rules engine with 5-minute windows"
  image         = "registry.example.com/fraud-detector:1.0.0"
  jar_uri       = "local:///opt/flink/usrlib/fraud-detector.jar"
  entry_class   = "com.example.fraud.FraudDetectionJob"
  args          = ["--window", "5m"]
  flink_version = "1.20"
  parallelism   = 4

  flink_configuration = {
    "state.backend.type"               = "rocksdb"
    "execution.checkpointing.interval" = "30s"
    "state.checkpoints.dir"            = "s3://acme-flink-savepoints/checkpoints"
  }

  # Existing Secrets, by reference only (the version record is a ConfigMap): an environment
  # variable from one key, and every key of s3-credentials (s3.access-key, s3.secret-key)
  # merged into the Flink configuration when a pod starts.
  env_from_secrets = {
    RULES_DB_PASSWORD = { secret = "rules-db", key = "password" }
  }
  flink_configuration_secrets = ["s3-credentials"]

  job_manager = {
    cpu    = 1
    memory = "2g"
  }

  task_manager = {
    cpu        = 2
    memory     = "4g"
    replicas   = 2
    task_slots = 2
  }
}

# A new version records its lineage; pointing the application at it plans the upgrade.
resource "flink_application_version" "v2" {
  application       = flink_application_version.v1.application
  namespace         = flink_application_version.v1.namespace
  version           = "v2"
  parent_version_id = flink_application_version.v1.id
  image             = "registry.example.com/fraud-detector:1.1.0"
  jar_uri           = "local:///opt/flink/usrlib/fraud-detector.jar"
  entry_class       = "com.example.fraud.FraudDetectionJob"
  flink_version     = "1.20"
  parallelism       = 4

  # The uids of the job's operators that keep state: a plan that restores state into this
  # version checks, before anything stops, that no operator's state would be dropped.
  stateful_operator_uids = ["transactions-source", "rules", "fraud-windows"]

  task_manager = {
    replicas   = 2
    task_slots = 2
  }
}

# A bounded job (a nightly backfill): its sources end, and FINISHED is its success. The
# application's apply waits for it, then scales the cluster to zero; the next plan is clean
# until the version or the application's triggers change.
resource "flink_application_version" "backfill" {
  application   = "orders-backfill"
  namespace     = "streaming"
  version       = "2026-12"
  image         = "registry.example.com/orders-backfill:3.2.0"
  jar_uri       = "local:///opt/flink/usrlib/orders-backfill.jar"
  entry_class   = "com.example.orders.Backfill"
  args          = ["--from", "2026-11-01", "--to", "2026-12-01"]
  flink_version = "2.2"
  parallelism   = 8
  bounded       = true

  task_manager = {
    replicas   = 4
    task_slots = 2
  }
}
