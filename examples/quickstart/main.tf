# Quickstart: one stateful streaming application with two versions. `make demo` applies it with
# version = "v1", then plans and applies version = "v2": the job is stopped with a savepoint and
# v2 starts from it, so its counter continues where v1 left off.

terraform {
  required_providers {
    flink = {
      source = "flinkplatform/flink"
    }
  }
}

variable "kubeconfig" {
  type        = string
  description = "Kubeconfig of the cluster to deploy to."
}

variable "snapshot_storage_url" {
  type        = string
  description = "Where savepoints live, e.g. s3://bucket/prefix or file:///var/savepoints."
}

variable "version_label" {
  type        = string
  default     = "v1"
  description = "Which version runs: v1 or v2."
}

variable "allow_non_restored_state" {
  type        = bool
  default     = false
  description = "Let v1 start from a v2 savepoint (v2 has an operator v1 lacks); the upgrade benchmark goes back and forth."
}

variable "flink_version" {
  type    = string
  default = "1.20"
}

variable "namespace" {
  type    = string
  default = "default"
}

variable "flink_access_mode" {
  type        = string
  default     = "proxy"
  description = "How the provider reaches Flink's REST API: \"proxy\" (through the Kubernetes API server, the default) or \"direct\"."
}

variable "storage_flink_configuration" {
  type        = map(string)
  default     = {}
  description = "Flink settings for the snapshot storage, e.g. { \"s3.endpoint\" = \"https://s3.eu-west-1.amazonaws.com\" }."
}

variable "storage_credentials_secret" {
  type        = string
  default     = null
  description = "A Secret in the namespace whose keys are Flink settings with the storage credentials (s3.access-key, s3.secret-key): Flink and the provider both sign with them."
}

provider "flink" {
  snapshot_storage_url                = var.snapshot_storage_url
  snapshot_storage_credentials_secret = var.storage_credentials_secret == null ? null : "${var.namespace}/${var.storage_credentials_secret}"

  kubernetes {
    config_path = var.kubeconfig
  }

  flink_access {
    mode = var.flink_access_mode
  }
}

locals {
  versions = {
    v1 = { entry_class = "flinkplatform.fixture.CounterJob", description = "counts events per key" }
    v2 = { entry_class = "flinkplatform.fixture.CounterJobPlus", description = "adds an enrichment operator" }
  }
}

resource "flink_application_version" "counter" {
  for_each = local.versions

  application       = "counter"
  namespace         = var.namespace
  version           = each.key
  description       = each.value.description
  parent_version_id = each.key == "v2" ? "${var.namespace}/counter/v1" : null
  image             = "flink:${var.flink_version}-java17"
  jar_uri           = "local:///opt/flink/usrlib/fixture-job.jar"
  entry_class       = each.value.entry_class
  flink_version     = var.flink_version
  parallelism       = 1

  flink_configuration = merge({
    "execution.checkpointing.interval" = "2s"
  }, var.storage_flink_configuration)
  flink_configuration_secrets = var.storage_credentials_secret == null ? [] : [var.storage_credentials_secret]

  job_manager = {
    cpu    = 0.5
    memory = "1g"
  }

  task_manager = {
    cpu        = 0.5
    memory     = "1g"
    replicas   = 1
    task_slots = 1
  }
}

resource "flink_streaming_application" "counter" {
  name         = "counter"
  namespace    = var.namespace
  version_id   = flink_application_version.counter[var.version_label].id
  upgrade_mode = "savepoint"

  rollback = {
    readiness_timeout = "3m"
  }

  restore = {
    allow_non_restored_state = var.allow_non_restored_state
  }
}

output "planned_operation" {
  value = flink_streaming_application.counter.planned_operation
}

output "job_id" {
  value = flink_streaming_application.counter.job_id
}

output "last_snapshot_path" {
  value = flink_streaming_application.counter.last_snapshot_path
}
