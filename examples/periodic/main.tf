# Periodic (bursty) processing: a stateful job that runs a few times a day. Between runs it is
# suspended: stopped with a savepoint and scaled to zero, so its pods cost nothing, and each
# run resumes from the savepoint the previous one left, so state carries over.
#
# The scheduler is the pipeline that runs terraform, e.g. a CI cron job:
#
#   terraform apply -auto-approve -var running=true    # 02:00: resume from the last savepoint
#   terraform apply -auto-approve -var running=false   # 03:00: savepoint, then no pods
#
# Each plan says which it will do (planned_operation = "resume" or "suspend"). Keep automatic
# snapshots in check with snapshot_retention: every suspend takes one.

terraform {
  required_providers {
    flink = {
      source = "flinkplatform/flink"
    }
  }
}

variable "running" {
  type        = bool
  description = "true while the job should run (the schedule's window), false between runs."
}

variable "kubeconfig" {
  type = string
}

provider "flink" {
  snapshot_storage_url = "s3://flink-snapshots/prod"

  kubernetes {
    config_path = var.kubeconfig
  }
}

resource "flink_application_version" "nightly_v1" {
  application   = "nightly-rollup"
  namespace     = "analytics"
  version       = "v1"
  image         = "registry.example.com/analytics/nightly-rollup:1.0.0"
  jar_uri       = "local:///opt/flink/usrlib/nightly-rollup.jar"
  entry_class   = "com.example.analytics.NightlyRollup"
  flink_version = "1.20"
  parallelism   = 4

  flink_configuration = {
    "execution.checkpointing.interval" = "1m"
    "state.backend.type"               = "rocksdb"
  }

  task_manager = {
    replicas   = 2
    task_slots = 2
  }
}

resource "flink_streaming_application" "nightly" {
  name       = "nightly-rollup"
  namespace  = "analytics"
  version_id = flink_application_version.nightly_v1.id

  # The schedule flips this; everything else stays as it is.
  state = var.running ? "running" : "suspended"

  # A resume starts from the newest state (restore.strategy "latest_state", the default): the
  # suspend's savepoint, or a newer checkpoint if the job failed after it.

  # Keep the last 7 runs' savepoints; older ones are disposed after each suspend.
  snapshot_retention = {
    max_count = 7
  }
}

output "planned_operation" {
  value = flink_streaming_application.nightly.planned_operation
}
