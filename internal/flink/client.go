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
	"unicode/utf8"
)

// DefaultTimeout bounds every request of a Client unless WithRequestTimeout says otherwise.
const DefaultTimeout = 30 * time.Second

// maxResponseBytes bounds how much of a response body is read.
const maxResponseBytes = 32 << 20

// Client talks to one Flink JobManager's REST endpoint. It is safe for concurrent use.
type Client struct {
	cluster string
	base    *url.URL
	baseErr error
	hc      *http.Client
	timeout time.Duration
	hint    string
}

// Option configures a Client built by New.
type Option func(*Client)

// WithRequestTimeout bounds each request (sending it and reading the whole answer) to d;
// d <= 0 keeps DefaultTimeout. The bound applies whatever the http.Client's own Timeout,
// so a stuck JobManager cannot hang a caller whose context has no deadline.
func WithRequestTimeout(d time.Duration) Option {
	return func(c *Client) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// WithAccessHint sets the next step that errors suggest when the REST URL does not reach
// Flink's REST API (a 404 from an ingress or the Kubernetes API server, or a path Flink has
// no route for), e.g. "check flink_access (url_template, proxy) and that Service app-rest
// exists". Without it, errors ask to check that the base URL reaches the REST API.
func WithAccessHint(hint string) Option {
	return func(c *Client) { c.hint = hint }
}

// New returns a client for the JobManager at baseURL. cluster is a human-readable name
// such as "namespace/app" that prefixes every error. A nil httpClient is replaced by a
// default one; every request is bounded by DefaultTimeout unless an option says otherwise.
// An unparsable baseURL is reported by every call.
func New(cluster string, baseURL string, httpClient *http.Client, opts ...Option) *Client {
	if httpClient == nil {
		httpClient = &http.Client{}
	}
	c := &Client{cluster: cluster, hc: httpClient, timeout: DefaultTimeout}
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
	for _, opt := range opts {
		opt(c)
	}
	if c.hint == "" && c.base != nil {
		c.hint = fmt.Sprintf("check that %s reaches the JobManager's REST API", c.base.Redacted())
	}
	return c
}

// RequestTimeout returns the bound of each request.
func (c *Client) RequestTimeout() time.Duration { return c.timeout }

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
// the decoded JSON response. Any 2xx status is success. The request, answer included, is
// bounded by the client's request timeout.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	displayPath := path
	if p, err := url.PathUnescape(path); err == nil {
		displayPath = p
	}
	transportErr := func(err error) error {
		return &TransportError{Cluster: c.cluster, Method: method, Path: displayPath, Err: err}
	}
	if c.baseErr != nil {
		return transportErr(c.baseErr)
	}
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("flink cluster %s: %s %s: encoding request: %w", c.cluster, method, displayPath, err)
		}
		rd = bytes.NewReader(data)
	}
	reqCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	// Our own deadline, not the caller's context, ended the request: say so, and keep it
	// retryable even when the caller's context ends right after.
	timedOut := func(err error) error {
		if ctx.Err() == nil && errors.Is(reqCtx.Err(), context.DeadlineExceeded) {
			return &RequestTimeoutError{After: c.timeout}
		}
		return err
	}
	req, err := http.NewRequestWithContext(reqCtx, method, c.endpoint(path, query), rd)
	if err != nil {
		return transportErr(err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return transportErr(timedOut(unwrapURLError(err)))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return transportErr(timedOut(fmt.Errorf("reading response: %w", err)))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		from, messages := errorMessages(data)
		apiErr := &APIError{
			Cluster:     c.cluster,
			Method:      method,
			Path:        displayPath,
			StatusCode:  resp.StatusCode,
			From:        from,
			ContentType: resp.Header.Get("Content-Type"),
			Messages:    messages,
			Hint:        c.hint,
		}
		return apiErr
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

// errorMessages tells what sent an error body and extracts its messages: Flink's
// {"errors":[...]} (an object with that one key, a list of strings), a Kubernetes Status's
// "message" (service proxy failures), or else the body text with whitespace collapsed.
func errorMessages(body []byte) (AnswerSource, []string) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return FromOther, nil
	}
	var object map[string]json.RawMessage
	if json.Unmarshal(trimmed, &object) == nil {
		var errs []string
		if raw, ok := object["errors"]; ok && len(object) == 1 && json.Unmarshal(raw, &errs) == nil && len(errs) > 0 {
			return FromFlink, errs
		}
		var status struct {
			Kind       string `json:"kind"`
			APIVersion string `json:"apiVersion"`
			Message    string `json:"message"`
			Reason     string `json:"reason"`
		}
		if json.Unmarshal(trimmed, &status) == nil && status.Kind == "Status" && status.APIVersion == "v1" {
			msg := status.Message
			if msg == "" {
				msg = status.Reason
			}
			if msg == "" {
				return FromKubernetesAPIServer, nil
			}
			return FromKubernetesAPIServer, []string{msg}
		}
	}
	text := strings.Join(strings.Fields(string(trimmed)), " ")
	if len(text) > 512 {
		cut := 512
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut] + "..."
	}
	return FromOther, []string{text}
}
