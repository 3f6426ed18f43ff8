package registryauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/containerd/containerd/v2/core/remotes/docker"
	remoteerrors "github.com/containerd/containerd/v2/core/remotes/errors"
	"github.com/moby/moby/api/types/registry"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// Login checks cfg against its registry as docker login does: it pings
// the registry's /v2/ and, when the registry challenges, answers the
// challenge (Basic, or a Bearer token fetched from the realm it names)
// with cfg's credentials. plainHTTP says whether a host is reached over
// HTTP rather than HTTPS. Refused credentials are an errdefs.Unauthorized
// error carrying the registry's own message.
func Login(ctx context.Context, cfg registry.AuthConfig, plainHTTP func(host string) (bool, error), client *http.Client) error {
	host, err := Host(cfg.ServerAddress)
	if err != nil {
		return err
	}
	plain, err := plainHTTP(host)
	if err != nil {
		return errdefs.Invalid("registry %s: %v", host, err)
	}
	scheme := "https"
	if plain {
		scheme = "http"
	}
	endpoint := scheme + "://" + host + "/v2/"
	user, secret := Credentials(cfg)
	authorizer := docker.NewDockerAuthorizer(docker.WithAuthClient(client),
		docker.WithAuthCreds(func(string) (string, string, error) { return user, secret, nil }))

	resp, err := ping(ctx, client, endpoint, nil)
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusOK {
		return nil // a registry that asks for no login accepts any
	}
	if resp.StatusCode != http.StatusUnauthorized {
		return refused(endpoint, resp)
	}
	if err := authorizer.AddResponses(ctx, []*http.Response{resp}); err != nil {
		return errdefs.Unauthorized("login to %s: %v", host, err)
	}
	resp, err = ping(ctx, client, endpoint, authorizer)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return refused(endpoint, resp)
	}
	return nil
}

// ping GETs the registry's /v2/, authorized when authorizer is set; the
// response's body is read and closed.
func ping(ctx context.Context, client *http.Client, endpoint string, authorizer docker.Authorizer) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return nil, errdefs.Invalid("registry address %s: %v", endpoint, err)
	}
	if authorizer != nil {
		if err := authorizer.Authorize(ctx, req); err != nil {
			return nil, tokenRefused(err)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, errdefs.Unavailable("%v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body = io.NopCloser(strings.NewReader(string(body)))
	return resp, nil
}

// refused is dockerd's answer to a login the registry did not accept, with
// the registry's message when it gave one.
func refused(endpoint string, resp *http.Response) error {
	msg := fmt.Sprintf("login attempt to %s failed with status: %d %s", endpoint, resp.StatusCode, http.StatusText(resp.StatusCode))
	body, _ := io.ReadAll(resp.Body)
	if m := registryMessage(body); m != "" {
		msg += ": " + m
	}
	return errdefs.Unauthorized("%s", msg)
}

// tokenRefused is the error of a token server that refused the
// credentials, with its message.
func tokenRefused(err error) error {
	var st remoteerrors.ErrUnexpectedStatus
	if errors.As(err, &st) {
		if m := registryMessage(st.Body); m != "" {
			return errdefs.Unauthorized("%s", m)
		}
		return errdefs.Unauthorized("%s", st.Status)
	}
	return errdefs.Unauthorized("%v", err)
}

// registryMessage reads the errors a registry or token server put in a
// response body (the distribution spec's {"errors":[{code,message}]}, or
// a token server's {"details":…}), "" when there are none.
func registryMessage(body []byte) string {
	var e struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
		Details string `json:"details"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	var parts []string
	for _, x := range e.Errors {
		switch {
		case x.Code != "" && x.Message != "":
			parts = append(parts, strings.ToLower(x.Code)+": "+x.Message)
		case x.Message != "":
			parts = append(parts, x.Message)
		}
	}
	if len(parts) == 0 {
		return e.Details
	}
	return strings.Join(parts, "; ")
}
