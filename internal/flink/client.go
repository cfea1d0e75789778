// Package flink is a small typed client for the REST API of an Apache Flink JobManager
// (Flink 1.18 to 2.x), as used by the provider to observe and steer the job of a
// standalone application cluster: cluster and job overviews, job details, savepoints,
// cancellation, checkpoint statistics and adaptive-scheduler resource requirements.
//
// It is plain Go: it imports nothing from Terraform or Kubernetes. The base URL may point
// at the JobManager's REST service directly ("http://app-rest.ns.svc:8081") or through the
// Kubernetes API server's service proxy
// ("https://apiserver/api/v1/namespaces/ns/services/app-rest:rest/proxy"); request paths
// are appended to the base URL's path, never substituted for it.
package flink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultTimeout bounds every request of a Client built with a nil *http.Client.
const DefaultTimeout = 30 * time.Second

// maxResponseBytes bounds how much of a response body is read.
const maxResponseBytes = 32 << 20

// Client talks to one Flink JobManager's REST endpoint. It is safe for concurrent use.
type Client struct {
	cluster string
	base    *url.URL
	baseErr error
	hc      *http.Client
}

// New returns a client for the JobManager at baseURL. cluster is a human-readable name
// such as "namespace/app" that prefixes every error. A nil httpClient is replaced by one
// with DefaultTimeout. An unparsable baseURL is reported by every call.
func New(cluster string, baseURL string, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: DefaultTimeout}
	}
	c := &Client{cluster: cluster, hc: httpClient}
	u, err := url.Parse(strings.TrimSpace(baseURL))
	switch {
	case err != nil:
		c.baseErr = fmt.Errorf("invalid base URL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		c.baseErr = fmt.Errorf("invalid base URL %q: scheme must be http or https", baseURL)
	case u.Host == "":
		c.baseErr = fmt.Errorf("invalid base URL %q: no host", baseURL)
	default:
		u.RawQuery, u.Fragment, u.RawFragment = "", "", ""
		c.base = u
	}
	return c
}

// Cluster returns the human-readable cluster name used in errors.
func (c *Client) Cluster() string { return c.cluster }

// BaseURL returns the base URL the client was built with (normalised), or "" if invalid.
func (c *Client) BaseURL() string {
	if c.base == nil {
		return ""
	}
	return c.base.String()
}

// endpoint joins the escaped Flink path (always starting with "/") to the base URL.
func (c *Client) endpoint(escapedPath string, query url.Values) string {
	u := *c.base
	basePath := strings.TrimSuffix(u.Path, "/")
	baseRaw := strings.TrimSuffix(u.EscapedPath(), "/")
	unescaped, err := url.PathUnescape(escapedPath)
	if err != nil {
		unescaped = escapedPath
	}
	u.Path = basePath + unescaped
	u.RawPath = baseRaw + escapedPath
	if query != nil {
		u.RawQuery = query.Encode()
	}
	return u.String()
}

// pathf builds an escaped request path from a format whose %s verbs are path segments.
func pathf(format string, segments ...string) string {
	args := make([]any, len(segments))
	for i, s := range segments {
		args[i] = url.PathEscape(s)
	}
	return fmt.Sprintf(format, args...)
}

// do sends one request. body, when non-nil, is sent as JSON; out, when non-nil, receives
// the decoded JSON response. Any 2xx status is success.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	displayPath := path
	if p, err := url.PathUnescape(path); err == nil {
		displayPath = p
	}
	if c.baseErr != nil {
		return &TransportError{Cluster: c.cluster, Method: method, Path: displayPath, Err: c.baseErr}
	}
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("flink cluster %s: %s %s: encoding request: %w", c.cluster, method, displayPath, err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.endpoint(path, query), rd)
	if err != nil {
		return &TransportError{Cluster: c.cluster, Method: method, Path: displayPath, Err: err}
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return &TransportError{Cluster: c.cluster, Method: method, Path: displayPath, Err: unwrapURLError(err)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return &TransportError{Cluster: c.cluster, Method: method, Path: displayPath, Err: fmt.Errorf("reading response: %w", err)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &APIError{
			Cluster:    c.cluster,
			Method:     method,
			Path:       displayPath,
			StatusCode: resp.StatusCode,
			Messages:   errorMessages(data),
		}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("flink cluster %s: %s %s: decoding %d response: %w", c.cluster, method, displayPath, resp.StatusCode, err)
	}
	return nil
}

func (c *Client) get(ctx context.Context, path string, out any) error {
	return c.do(ctx, http.MethodGet, path, nil, nil, out)
}

// unwrapURLError drops net/http's *url.Error wrapper, whose text repeats the full URL,
// keeping the underlying cause (errors.Is/As still see everything below it).
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}

// errorMessages extracts the messages of an error response: Flink's {"errors":[...]},
// a Kubernetes Status's "message" (service proxy failures), or the raw body text.
func errorMessages(body []byte) []string {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil
	}
	var flinkErr struct {
		Errors []string `json:"errors"`
	}
	if err := json.Unmarshal(trimmed, &flinkErr); err == nil && len(flinkErr.Errors) > 0 {
		return flinkErr.Errors
	}
	var k8sStatus struct {
		Kind    string `json:"kind"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(trimmed, &k8sStatus); err == nil && k8sStatus.Message != "" {
		return []string{k8sStatus.Message}
	}
	text := string(trimmed)
	if len(text) > 512 {
		text = text[:512] + "..."
	}
	return []string{text}
}
