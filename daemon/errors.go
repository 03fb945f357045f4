package daemon

import (
	"errors"
	"fmt"

	"github.com/xcloud-dev/xcloud/store"
)

// The engine's sentinel errors. Its operations wrap them with %w, naming
// the app or host; each front door (daemon/admin for SSH) matches them with
// errors.Is and words them for its users. The domain ones wrap the store's
// kind (store.ErrInvalidName, store.ErrExists, store.ErrNotFound) so a
// caller that only tells those apart still can.
var (
	// ErrNoRelease: the operation needs a deployed release and the app has
	// none yet.
	ErrNoRelease = errors.New("app has no release yet; push to deploy")

	// ErrStaticSite: the app serves a static site, so it has no container
	// to run a command or a cron job in.
	ErrStaticSite = errors.New("app is a static site")

	// ErrInvalidDomain: a host name that cannot be mapped (malformed, an IP
	// address, a wildcard, a port, or reserved for an app's default host).
	// It comes as a *DomainError saying why.
	ErrInvalidDomain = fmt.Errorf("invalid domain: %w", store.ErrInvalidName)

	// ErrDomainTaken: the host is mapped to an app already, or is an app's
	// default host. It comes as a *DomainError naming the app.
	ErrDomainTaken = fmt.Errorf("domain taken: %w", store.ErrExists)

	// ErrDomainNotMapped: domains:remove of a host the app does not have.
	// It comes as a *DomainError naming the app that has it, if any.
	ErrDomainNotMapped = fmt.Errorf("domain not mapped: %w", store.ErrNotFound)

	// ErrNoLocalCA: the proxy has no local CA to print (tls.mode is not
	// "internal"). It comes as a *DomainError saying what the mode is.
	ErrNoLocalCA = fmt.Errorf("no local CA: %w", store.ErrNotFound)
)

// DomainError is a rejected domain operation: Msg is one line for people
// and Err is the sentinel it matches (ErrInvalidDomain, ErrDomainTaken,
// ErrDomainNotMapped, ErrNoLocalCA).
type DomainError struct {
	Msg string
	Err error
}

func (e *DomainError) Error() string { return e.Msg }
func (e *DomainError) Unwrap() error { return e.Err }
