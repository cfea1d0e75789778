terraform {
  required_providers {
    flink = {
      source = "flinkplatform/flink"
    }
  }
}

# Reach Kubernetes as kubectl does; reach each Flink JobManager through the API server's
# service proxy (the default), so nothing else needs to be exposed.
provider "flink" {
  kubernetes {
    config_path    = "~/.kube/config"
    config_context = "prod-eu-1"
  }

  default_namespace    = "streaming"
  snapshot_storage_url = "s3://acme-flink-savepoints/prod-eu-1"
}

# A CI runner inside the cluster can call the JobManagers directly instead.
provider "flink" {
  alias = "in_cluster"

  flink_access {
    mode         = "direct"
    url_template = "http://{name}-rest.{namespace}.svc:8081"
  }
}
