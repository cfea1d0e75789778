data "flink_application_version" "current" {
  application = "fraud-detector"
  namespace   = "streaming"
  version     = "v2"
}

output "image" {
  value = data.flink_application_version.current.image
}
