# Move an application to another cluster in one apply: its job stops with a savepoint on the
# old cluster, the savepoint is copied into the new cluster's storage (and read back there),
# recorded in the new cluster, and the job starts there from it.
#
#   terraform apply -var migrate=true
#
# The plan shows every step before it happens: "suspend" on the old cluster, the copy and the
# record (two flink_snapshot creates), and "deploy" on the new one. With migrate = false it is
# the everyday configuration: the application runs on the old cluster only.

terraform {
  required_providers {
    flink = {
      source = "flinkplatform/flink"
    }
  }
}

variable "migrate" {
  type    = bool
  default = false
}

provider "flink" {
  alias                = "eu_west"
  snapshot_storage_url = "s3://flink-snapshots-eu-west/prod?region=eu-west-1"
  kubernetes {
    config_context = "prod-eu-west"
  }
}

provider "flink" {
  alias                = "eu_central"
  snapshot_storage_url = "s3://flink-snapshots-eu-central/prod?region=eu-central-1"
  kubernetes {
    config_context = "prod-eu-central"
  }
}

locals {
  version = {
    image         = "registry.example.com/payments/orders:1.4.2"
    jar_uri       = "local:///opt/flink/usrlib/orders.jar"
    entry_class   = "com.example.orders.OrdersJob"
    flink_version = "1.20"
    parallelism   = 2
  }
}

# The old cluster.
resource "flink_application_version" "west_v3" {
  provider      = flink.eu_west
  application   = "orders"
  namespace     = "payments"
  version       = "v3"
  image         = local.version.image
  jar_uri       = local.version.jar_uri
  entry_class   = local.version.entry_class
  flink_version = local.version.flink_version
  parallelism   = local.version.parallelism
  flink_configuration = {
    "execution.checkpointing.interval" = "30s"
    "state.checkpoints.dir"            = "s3://flink-snapshots-eu-west/checkpoints/orders"
  }
}

resource "flink_streaming_application" "orders_west" {
  provider   = flink.eu_west
  name       = "orders"
  namespace  = "payments"
  version_id = flink_application_version.west_v3.id
  state      = var.migrate ? "suspended" : "running"
}

# The savepoint the suspend takes, copied into the new cluster's storage. The copy is read
# back (its _metadata, and as many bytes as the source) before it is recorded.
resource "flink_snapshot" "to_central" {
  count              = var.migrate ? 1 : 0
  provider           = flink.eu_west
  application        = "orders"
  namespace          = "payments"
  source_snapshot_id = flink_streaming_application.orders_west.last_snapshot_id
  destination_url    = "s3://flink-snapshots-eu-central/prod?region=eu-central-1"
}

# The copy, recorded in the new cluster: restorable there by id.
resource "flink_snapshot" "in_central" {
  count       = var.migrate ? 1 : 0
  provider    = flink.eu_central
  application = "orders"
  namespace   = "payments"
  path        = flink_snapshot.to_central[0].path
}

# The new cluster.
resource "flink_application_version" "central_v3" {
  count         = var.migrate ? 1 : 0
  provider      = flink.eu_central
  application   = "orders"
  namespace     = "payments"
  version       = "v3"
  image         = local.version.image
  jar_uri       = local.version.jar_uri
  entry_class   = local.version.entry_class
  flink_version = local.version.flink_version
  parallelism   = local.version.parallelism
  flink_configuration = {
    "execution.checkpointing.interval" = "30s"
    "state.checkpoints.dir"            = "s3://flink-snapshots-eu-central/checkpoints/orders"
  }
}

resource "flink_streaming_application" "orders_central" {
  count      = var.migrate ? 1 : 0
  provider   = flink.eu_central
  name       = "orders"
  namespace  = "payments"
  version_id = flink_application_version.central_v3[0].id
  restore = {
    strategy    = "snapshot"
    snapshot_id = flink_snapshot.in_central[0].id
  }
}
