# The least-privilege identity of terraform-provider-flink in one namespace, managed with the
# Kubernetes provider (see docs/guides/rbac.md). Generated from internal/kube/rbac.go by `make
# docs`: change the Role there.

terraform {
  required_providers {
    kubernetes = {
      source = "hashicorp/kubernetes"
    }
  }
}

variable "namespace" {
  type        = string
  description = "A namespace the flink provider manages applications in."
}

variable "flink_access_mode" {
  type        = string
  default     = "proxy"
  description = "The flink provider's flink_access mode: \"proxy\" (the default) needs the services/proxy rule, \"direct\" does not."
}

resource "kubernetes_service_account" "flink_provider" {
  metadata {
    name      = "terraform-provider-flink"
    namespace = var.namespace
  }
}

resource "kubernetes_role" "flink_provider" {
  metadata {
    name      = "terraform-provider-flink"
    namespace = var.namespace
  }

  # Records (application, version, snapshot) are ConfigMaps: get, list, create, update, delete. The
  # Flink configuration ConfigMap is server-side applied (patch, and create when missing) and
  # deleted. watch is not called by the provider: it is held so that the provider may grant it to
  # the JobManager's Role for Kubernetes HA.
  rule {
    api_groups = [""]
    resources  = ["configmaps"]
    verbs      = ["get", "list", "watch", "create", "update", "patch", "delete"]
  }

  # Cluster objects are owned by the application record with blockOwnerDeletion, so that deleting
  # the record cascades. Where the OwnerReferencesPermissionEnforcement admission plugin is on (e.g.
  # OpenShift), setting blockOwnerDeletion needs update on the owner's finalizers.
  rule {
    api_groups = [""]
    resources  = ["configmaps/finalizers"]
    verbs      = ["update"]
  }

  # The REST and RPC Services: server-side apply (patch, and create when missing), get while waiting
  # for deletion, delete.
  rule {
    api_groups = [""]
    resources  = ["services"]
    verbs      = ["get", "create", "patch", "delete"]
  }

  # The JobManager and TaskManager Deployments: server-side apply (patch, and create when missing),
  # get to follow the rollout, delete.
  rule {
    api_groups = ["apps"]
    resources  = ["deployments"]
    verbs      = ["get", "create", "patch", "delete"]
  }

  # Reports pods stuck in ImagePullBackOff or CrashLoopBackOff and JobManagers that exited while
  # waiting for a rollout, and waits for pods to go after a delete. restart_task_managers deletes
  # the TaskManager pods of a stuck job (deletecollection by label).
  rule {
    api_groups = [""]
    resources  = ["pods"]
    verbs      = ["list", "deletecollection"]
  }

  # An Event on the application record for every apply (kubectl describe configmap
  # <name>-flink-application).
  rule {
    api_groups = [""]
    resources  = ["events"]
    verbs      = ["create"]
  }

  # The per-application lock is a Lease: get, create, update (renew, take over), delete (release).
  rule {
    api_groups = ["coordination.k8s.io"]
    resources  = ["leases"]
    verbs      = ["get", "create", "update", "delete"]
  }

  # The application's sensitive settings (secret_flink_configuration, secret_env) live in an
  # immutable Secret per change: create, get (an earlier create whose answer was lost), list and
  # delete (the Secrets a newer one superseded). Secrets that versions reference are read by the
  # kubelet, not by the provider; the one snapshot_storage_credentials_secret names is read (get)
  # when snapshot storage is first used.
  rule {
    api_groups = [""]
    resources  = ["secrets"]
    verbs      = ["get", "list", "create", "delete"]
  }

  # Kubernetes HA: each application's JobManager runs as its own ServiceAccount.
  rule {
    api_groups = [""]
    resources  = ["serviceaccounts"]
    verbs      = ["get", "create", "update", "patch", "delete"]
  }

  # Kubernetes HA: the Role and RoleBinding that let the JobManager keep its leader election and job
  # metadata in ConfigMaps and Leases. The API server lets the provider grant only permissions it
  # holds itself, so no bind or escalate is needed.
  rule {
    api_groups = ["rbac.authorization.k8s.io"]
    resources  = ["roles", "rolebindings"]
    verbs      = ["get", "create", "update", "patch", "delete"]
  }

  # Only with flink_access mode "proxy" (the default): Flink's REST API through the API server's
  # service proxy. GET reads jobs and checkpoints, POST (create) triggers savepoints and
  # stop-with-savepoint, PATCH cancels a job.
  dynamic "rule" {
    for_each = var.flink_access_mode == "proxy" ? [1] : []
    content {
      api_groups = [""]
      resources  = ["services/proxy"]
      verbs      = ["get", "create", "patch"]
    }
  }
}

resource "kubernetes_role_binding" "flink_provider" {
  metadata {
    name      = kubernetes_role.flink_provider.metadata[0].name
    namespace = var.namespace
  }
  role_ref {
    api_group = "rbac.authorization.k8s.io"
    kind      = "Role"
    name      = kubernetes_role.flink_provider.metadata[0].name
  }
  subject {
    kind      = "ServiceAccount"
    name      = kubernetes_service_account.flink_provider.metadata[0].name
    namespace = var.namespace
  }
}
