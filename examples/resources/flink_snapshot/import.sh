# A snapshot is imported by namespace/name of its record
# (kubectl get cm -l flink.flinkplatform.io/record=snapshot).
terraform import flink_snapshot.before_migration streaming/fraud-detector-snap-20240601120000-a1b2c3
