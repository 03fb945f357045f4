package notify

import (
	"errors"
	"fmt"
	"time"
)

// ErrPermanent marks a delivery failure that retrying cannot fix, such as
// a 404 from a deleted webhook or an SMTP 5xx reply.
var ErrPermanent = errors.New("permanent failure")

// RetryAfterError is a failure whose receiver asked to be retried after a
// delay (HTTP 429 with Retry-After).
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.After)
}

func (e *RetryAfterError) Unwrap() error { return e.Err }
