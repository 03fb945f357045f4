package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/xcloud-dev/xcloud/daemon"
	"github.com/xcloud-dev/xcloud/daemon/access"
	"github.com/xcloud-dev/xcloud/store"
)

// Error codes of the API's error responses: the "code" of
// {"error": {"code", "message"}}. Clients branch on the code; the message
// is the one line the SSH door prints for the same mistake.
const (
	CodeBadRequest       = "bad_request"       // malformed input: a bad app name, body, parameter
	CodeUnauthorized     = "unauthorized"      // missing, malformed, unknown, expired or revoked token
	CodeForbidden        = "forbidden"         // the token's scope or apps do not allow it
	CodeNotFound         = "not_found"         // no such app, build, domain or route
	CodeConflict         = "conflict"          // the app's state does not allow it now (no release, static site…)
	CodeTooLarge         = "too_large"         // a body over the cap
	CodeUnsupportedMedia = "unsupported_media" // a body that is not application/json
	CodeRateLimited      = "rate_limited"      // too many requests or failed sign-ins; see Retry-After
	CodeMethod           = "method_not_allowed"
	CodeInternal         = "internal" // the daemon failed; details are in its log
)

// ErrorBody is every error response.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the code and the one-line message of an error response.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// httpError is an error with the status and code to answer it with.
type httpError struct {
	status int
	code   string
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func errorf(status int, code, format string, a ...any) *httpError {
	return &httpError{status: status, code: code, msg: fmt.Sprintf(format, a...)}
}

func badRequest(format string, a ...any) *httpError {
	return errorf(http.StatusBadRequest, CodeBadRequest, format, a...)
}

// classify maps an engine or store error to what the caller is told: its
// own mistakes as 4xx with the engine's words (as SSH prints them), the
// daemon's failures as 500 with no detail. op names the operation for the
// 500 message.
func classify(err error, op, app string) *httpError {
	var he *httpError
	if errors.As(err, &he) {
		return he
	}
	var ie daemon.InputError
	if errors.As(err, &ie) {
		return badRequest("%s", ie.Msg)
	}
	var de *daemon.Error
	msg := err.Error()
	if errors.As(err, &de) {
		msg = de.Msg
	}
	switch {
	case errors.Is(err, daemon.ErrStaticSite) && app != "":
		return errorf(http.StatusConflict, CodeConflict, "%s is a static site: it has no container to run commands in", app)
	case errors.Is(err, daemon.ErrNoRelease), errors.Is(err, daemon.ErrStaticSite),
		errors.Is(err, daemon.ErrAlreadyServing), errors.Is(err, store.ErrConflict):
		return errorf(http.StatusConflict, CodeConflict, "%s", msg)
	case errors.Is(err, daemon.ErrNoProcessType), errors.Is(err, daemon.ErrInvalidVarName),
		errors.Is(err, store.ErrInvalidName):
		return badRequest("%s", msg)
	case errors.Is(err, store.ErrExists):
		return errorf(http.StatusConflict, CodeConflict, "%s", msg)
	case errors.Is(err, store.ErrNotFound):
		return errorf(http.StatusNotFound, CodeNotFound, "%s", msg)
	case errors.Is(err, access.ErrNoToken), errors.Is(err, access.ErrMalformedToken), errors.Is(err, access.ErrUnknownToken),
		errors.Is(err, access.ErrExpiredToken), errors.Is(err, access.ErrRevokedToken):
		return errorf(http.StatusUnauthorized, CodeUnauthorized, "%s", msg)
	}
	return errorf(http.StatusInternalServerError, CodeInternal, "%s failed; see the daemon log", op)
}
