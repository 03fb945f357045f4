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

	// ErrNoProcessType: a scale names a process type the current release
	// does not have. It comes as an *Error listing the ones it has.
	ErrNoProcessType = errors.New("no such process type")

	// ErrAlreadyServing: a rollback to the release that is serving.
	ErrAlreadyServing = errors.New("release already serving")

	// ErrInvalidVarName: a config var name that is malformed or one xcloud
	// sets itself. It comes as an *Error saying which.
	ErrInvalidVarName = errors.New("invalid config var name")

	// ErrInvalidDomain: a host name that cannot be mapped (malformed, an IP
	// address, a wildcard, a port, or reserved for an app's default host).
	// It comes as an *Error saying why.
	ErrInvalidDomain = fmt.Errorf("invalid domain: %w", store.ErrInvalidName)

	// ErrDomainTaken: the host is mapped to an app already, or is an app's
	// default host. It comes as an *Error naming the app.
	ErrDomainTaken = fmt.Errorf("domain taken: %w", store.ErrExists)

	// ErrDomainNotMapped: domains:remove of a host the app does not have.
	// It comes as an *Error naming the app that has it, if any.
	ErrDomainNotMapped = fmt.Errorf("domain not mapped: %w", store.ErrNotFound)

	// ErrProgramNotFound: `run` named a program the release's image does
	// not have. It comes as an *Error naming it and saying how to pass a
	// shell line instead.
	ErrProgramNotFound = errors.New("program not found")

	// ErrNoLocalCA: the proxy has no local CA to print (tls.mode is not
	// "internal"). It comes as an *Error saying what the mode is.
	ErrNoLocalCA = fmt.Errorf("no local CA: %w", store.ErrNotFound)

	// ErrInvalidMount: a storage mount that cannot be (a bad path, volume
	// name or host directory, or a clash with another mount). It comes as
	// an *Error saying why.
	ErrInvalidMount = fmt.Errorf("invalid mount: %w", store.ErrInvalidName)

	// ErrMountForbidden: the mount needs an admin (a host directory, or a
	// volume another app uses). It comes as an *Error saying which.
	ErrMountForbidden = errors.New("mount needs an admin")

	// ErrInvalidStrategy: deploy:set named no known deploy strategy.
	ErrInvalidStrategy = errors.New("invalid deploy strategy")
)

// Error is a refused operation: Msg is one line for people, naming what was
// wrong, and Err is the sentinel it matches (ErrNoProcessType,
// ErrAlreadyServing, ErrInvalidVarName, ErrInvalidDomain, ErrDomainTaken,
// ErrDomainNotMapped, ErrNoLocalCA, ErrProgramNotFound, or
// store.ErrNotFound for a build or run that does not exist).
type Error struct {
	Msg string
	Err error
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Err }

// InputError is a mistake in what the app or the caller gave (app.json,
// a cron job's name…): its message is for people, shown as is.
type InputError struct{ Msg string }

func (e InputError) Error() string { return e.Msg }
