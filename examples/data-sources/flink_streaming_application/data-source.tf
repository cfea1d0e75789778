data "flink_streaming_application" "fraud_detector" {
  name      = "fraud-detector"
  namespace = "streaming"
}

output "job" {
  value = "${data.flink_streaming_application.fraud_detector.job_id} is ${data.flink_streaming_application.fraud_detector.status}"
}
