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

# An S3-compatible store whose keys sit in a Secret beside the applications: the provider signs
# with them, and each version hands the same Secret to Flink (flink_configuration_secrets).
provider "flink" {
  alias = "on_prem"

  kubernetes {
    config_path = "~/.kube/config"
  }

  snapshot_storage_url                = "s3://flink-savepoints/prod?endpoint=https%3A%2F%2Fs3.internal.example.com&region=us-east-1&use_path_style=true"
  snapshot_storage_credentials_secret = "streaming/flink-s3"
}

# A CI runner inside the cluster can call the JobManagers directly instead.
provider "flink" {
  alias = "in_cluster"

  flink_access {
    mode         = "direct"
    url_template = "http://{name}-rest.{namespace}.svc:8081"
  }
}
