package kube

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// PermissionError is a Forbidden answer of the API server, with the permission the
// provider's identity lacks as far as the answer tells, and where the Role it needs is
// documented. It wraps the API server's error (apierrors.IsForbidden still holds).
type PermissionError struct {
	// Verb and Resource ("deployments", "configmaps/finalizers") in Group of the missing
	// permission; Verb is "" when the answer does not say (e.g. an admission plugin's).
	Verb, Resource, Group string
	Namespace             string
	Err                   error
}

func (e *PermissionError) Error() string {
	var b strings.Builder
	b.WriteString(e.Err.Error())
	b.WriteString("\nThe provider's Kubernetes identity lacks ")
	switch {
	case e.Verb != "":
		fmt.Fprintf(&b, "permission to %s %s", e.Verb, e.qualifiedResource())
	case e.Resource != "":
		fmt.Fprintf(&b, "a permission on %s", e.qualifiedResource())
	default:
		b.WriteString("a permission")
	}
	if e.Namespace != "" {
		fmt.Fprintf(&b, " in namespace %s", e.Namespace)
	}
	b.WriteString(": give it the Role in " + RBACGuide + ".")
	return b.String()
}

// qualifiedResource names the resource as kubectl does: "deployments.apps",
// "configmaps/finalizers".
func (e *PermissionError) qualifiedResource() string {
	if e.Group == "" {
		return e.Resource
	}
	resource, sub, found := strings.Cut(e.Resource, "/")
	if found {
		return resource + "." + e.Group + "/" + sub
	}
	return resource + "." + e.Group
}

func (e *PermissionError) Unwrap() error { return e.Err }

var (
	// The API server's words for an authorization denial (responsewriters.forbiddenMessage),
	// also for the create that a server-side apply of a missing object is authorized as.
	rbacDenied = regexp.MustCompile(`cannot (\S+) resource "([^"]+)" in API group "([^"]*)"(?: in the namespace "([^"]+)")?`)
	// OwnerReferencesPermissionEnforcement's words: blockOwnerDeletion needs update on the
	// owner's finalizers, and our owner is always the application record ConfigMap.
	finalizersDenied = "cannot set blockOwnerDeletion"
	ownerRefDenied   = "cannot set an ownerRef on a resource you can't delete"
)

// explainForbidden turns a Forbidden error of a call in namespace ns into a
// *PermissionError, once: errors that are not Forbidden, or already explained, are returned
// as they are. Every exported Client method passes its error through it, so that whichever
// call was denied the user learns which permission to grant.
func explainForbidden(err error, ns string) error {
	var explained *PermissionError
	if err == nil || !apierrors.IsForbidden(err) || errors.As(err, &explained) {
		return err
	}
	pe := &PermissionError{Err: err, Namespace: ns}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		if d := status.Status().Details; d != nil {
			pe.Resource, pe.Group = d.Kind, d.Group // Kind holds the resource in a Forbidden
		}
	}
	msg := err.Error()
	switch m := rbacDenied.FindStringSubmatch(msg); {
	case m != nil:
		pe.Verb, pe.Resource, pe.Group = m[1], m[2], m[3]
		if m[4] != "" {
			pe.Namespace = m[4]
		}
	case strings.Contains(msg, finalizersDenied):
		pe.Verb, pe.Resource, pe.Group = "update", "configmaps/finalizers", ""
	case strings.Contains(msg, ownerRefDenied):
		pe.Verb = "delete"
	}
	return pe
}

// withPermissionHint is explainForbidden for a deferred call on a named error result.
func withPermissionHint(err *error, ns string) { *err = explainForbidden(*err, ns) }

// PermissionHint is withPermissionHint for packages built on Client (the records).
func PermissionHint(err *error, ns string) { withPermissionHint(err, ns) }
