variable "datadog_api_key" {
  type      = string
  sensitive = true
}

resource "flink_streaming_application" "fraud_detector" {
  name       = "fraud-detector"
  namespace  = "streaming"
  version_id = flink_application_version.v2.id

  # Upgrades stop the job with a savepoint and start the new version from it (the default).
  upgrade_mode = "savepoint"
  on_destroy   = "savepoint"

  rollback = {
    enabled           = true
    readiness_timeout = "10m"
  }

  snapshot_retention = {
    max_count = 10
    max_age   = "720h"
  }

  labels = {
    team = "risk"
  }

  # Sensitive settings of this deployment, kept in a Secret the provider owns; changing one
  # redeploys the job with a savepoint. (secret_env_wo / secret_flink_configuration_wo keep them
  # out of state on Terraform and OpenTofu >= 1.11.)
  secret_flink_configuration = {
    "metrics.reporter.datadog.apikey" = var.datadog_api_key
  }

  timeouts {
    update = "45m"
  }
}

# `terraform plan` names what will happen to the running job, e.g.
#   Warning: fraud-detector: savepoint_redeploy
#   fraud-detector: stop job 3f2a91c0… (version v1) with a savepoint, then start version v2
#   from it; if it is not healthy within 10m0s, roll back to the previous version from the
#   same snapshot
output "planned_operation" {
  value = flink_streaming_application.fraud_detector.planned_operation
}
