//go:build tools

// Package kube pins the Kubernetes control-plane binaries the acceptance tests run
// (kube-apiserver, kube-controller-manager). k8s.io/kubernetes is not meant to be a
// dependency, so every staging module is replaced with its published v0.Y.Z release.
package kube

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
