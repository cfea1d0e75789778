resource "flink_streaming_application" "fraud_detector" {
  name       = "fraud-detector"
  namespace  = "streaming"
  version_id = flink_application_version.v2.id

  labels = {
    team = "risk"
  }

  timeouts {
    update = "45m"
  }
}

# `terraform plan` names what will happen to the running job, e.g.
#   Warning: fraud-detector: stateless_redeploy
#   fraud-detector: cancel job 3f2a91c0… (version v1) and start version v2 with empty state
output "planned_operation" {
  value = flink_streaming_application.fraud_detector.planned_operation
}
