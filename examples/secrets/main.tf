# Secrets: an application whose Flink configuration and environment hold credentials, none of
# which ever lands in a ConfigMap, a pod spec, the provider's records, a plan or a log.
#
#   * References to Secrets that exist already (made by an operator such as External Secrets,
#     or `kubectl create secret`) go on the version: it records only their names.
#   * Values Terraform knows go on the application, marked sensitive; the provider writes them
#     to an immutable Secret it owns (`<name>-secrets-<n>`, deleted with the application).
#   * With Terraform or OpenTofu >= 1.11 the write-only variants (`*_wo`) keep them out of state
#     too; bump `*_wo_version` to roll out a new value.
#
# Changing a value redeploys the job with a savepoint (`planned_operation =
# "savepoint_redeploy"`), and rolls back to the previous values if the new job is unhealthy.

terraform {
  required_version = ">= 1.11"
  required_providers {
    flink = {
      source = "flinkplatform/flink"
    }
  }
}

variable "kubeconfig" {
  type = string
}

variable "s3_secret_key" {
  type      = string
  sensitive = true
}

# Ephemeral (Terraform/OpenTofu >= 1.11): usable only in write-only arguments, never stored.
variable "api_token" {
  type      = string
  sensitive = true
  ephemeral = true
}

variable "api_token_version" {
  type        = number
  default     = 1
  description = "Increase to roll out a new api_token."
}

provider "flink" {
  snapshot_storage_url = "s3://acme-flink-savepoints/prod"

  kubernetes {
    config_path = var.kubeconfig
  }
}

resource "flink_application_version" "v1" {
  application   = "payments-enricher"
  namespace     = "streaming"
  version       = "v1"
  image         = "registry.example.com/payments-enricher:2.3.0"
  jar_uri       = "local:///opt/flink/usrlib/payments-enricher.jar"
  entry_class   = "com.example.payments.EnricherJob"
  flink_version = "1.20"
  parallelism   = 2

  flink_configuration = {
    "state.checkpoints.dir"            = "s3://acme-flink-savepoints/checkpoints/payments-enricher"
    "execution.checkpointing.interval" = "30s"
    "s3.endpoint"                      = "https://s3.eu-west-1.amazonaws.com"
  }

  # The Secret kafka-credentials exists in the namespace; only its name and key are recorded.
  env_from_secrets = {
    KAFKA_PASSWORD = { secret = "kafka-credentials", key = "password" }
  }

  # Every key of the Secret flink-tls is a Flink configuration key (e.g.
  # security.ssl.internal.keystore-password), merged into the configuration when a pod starts.
  flink_configuration_secrets = ["flink-tls"]

  task_manager = {
    replicas   = 2
    task_slots = 1
  }
}

resource "flink_streaming_application" "payments_enricher" {
  name       = "payments-enricher"
  namespace  = "streaming"
  version_id = flink_application_version.v1.id

  # Stored in state (sensitive); Flink masks keys containing "secret", "password", "token".
  secret_flink_configuration = {
    "s3.secret-key" = var.s3_secret_key
  }

  # Never stored: read when the application is created and whenever the version changes.
  secret_env_wo = {
    PAYMENTS_API_TOKEN = var.api_token
  }
  secret_env_wo_version = var.api_token_version
}
