# The newest snapshot an upgrade of fraud-detector took.
data "flink_snapshots" "upgrades" {
  namespace   = "streaming"
  application = "fraud-detector"
  origin      = "upgrade"
}

output "latest_upgrade_savepoint" {
  value = data.flink_snapshots.upgrades.latest.path
}
