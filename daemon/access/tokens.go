package access

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/xcloud-dev/xcloud/store"
)

// Errors of token authentication. Each is the caller's mistake (401), and
// the message may be shown to the caller.
var (
	// ErrNoToken: the request carries no token.
	ErrNoToken = errors.New("missing API token: send Authorization: Bearer TOKEN")
	// ErrMalformedToken: what was sent cannot be an xcloud token.
	ErrMalformedToken = errors.New("malformed API token: want xct_ followed by 43 base64url characters")
	// ErrUnknownToken: no token has that secret.
	ErrUnknownToken = errors.New("unknown API token")
	// ErrExpiredToken: the token's expiry has passed.
	ErrExpiredToken = errors.New("API token has expired")
	// ErrRevokedToken: tokens:revoke revoked it.
	ErrRevokedToken = errors.New("API token was revoked")
)

// TokenPrefix starts every token secret, so a leaked one is recognisable
// (and scanners can find it).
const TokenPrefix = "xct_"

// secretBytes is the entropy of a token secret.
const secretBytes = 32

// TokenStore keeps the tokens. *store.Store implements it.
type TokenStore interface {
	// CreateToken returns store.ErrExists when a live token has the name.
	CreateToken(ctx context.Context, t store.Token) (store.Token, error)
	// TokenByHash returns store.ErrNotFound for an unknown hash.
	TokenByHash(ctx context.Context, hash []byte) (store.Token, error)
	ListTokens(ctx context.Context) ([]store.Token, error)
	// RevokeToken returns store.ErrNotFound when no live token has the name.
	RevokeToken(ctx context.Context, name string) error
	TouchToken(ctx context.Context, id int64, at time.Time) error
}

var _ TokenStore = (*store.Store)(nil)

// Tokens creates, lists, revokes and authenticates API tokens.
type Tokens struct {
	st  TokenStore
	now func() time.Time

	mu      sync.Mutex
	touched map[int64]time.Time // last recorded use per token, to write it at most once a minute
}

// NewTokens returns the tokens kept in st.
func NewTokens(st TokenStore) *Tokens {
	return &Tokens{st: st, now: time.Now, touched: map[int64]time.Time{}}
}

// NewToken is what tokens:create asks for.
type NewToken struct {
	Name  string
	Scope Scope
	Apps  []string      // empty: every app
	TTL   time.Duration // 0: never expires
}

// nameRe is the rule of token and SSH key names but for the length,
// checked apart: Go expands a counted repetition such as {0,62} into as
// many copies, some 25 KB held for the life of the process.
var nameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._@-]*$`)

// ValidName reports whether name is a valid token or SSH key name: 1-63 of
// a-z 0-9 . _ @ -, starting with a letter or digit.
func ValidName(name string) bool { return len(name) <= 63 && nameRe.MatchString(name) }

// ValidTokenName returns an error naming the rule when name is not a valid
// token name.
func ValidTokenName(name string) error {
	if !ValidName(name) {
		return fmt.Errorf("invalid token name %q: use 1-63 of a-z 0-9 . _ @ - starting with a letter or digit", name)
	}
	return nil
}

// Create makes a token and returns its secret, which exists nowhere else:
// the store keeps only its hash. It returns store.ErrExists (wrapped) when
// a live token has the name.
func (t *Tokens) Create(ctx context.Context, req NewToken) (string, store.Token, error) {
	if err := ValidTokenName(req.Name); err != nil {
		return "", store.Token{}, err
	}
	if _, err := ParseScope(string(req.Scope)); err != nil {
		return "", store.Token{}, err
	}
	raw := make([]byte, secretBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", store.Token{}, fmt.Errorf("token secret: %w", err)
	}
	secret := TokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	tok := store.Token{Name: req.Name, Hash: hashSecret(secret), Scope: string(req.Scope), Apps: slices.Compact(slices.Sorted(slices.Values(req.Apps)))}
	if req.TTL > 0 {
		tok.ExpiresAt = t.now().Add(req.TTL).UTC()
	}
	tok, err := t.st.CreateToken(ctx, tok)
	if err != nil {
		return "", store.Token{}, err
	}
	return secret, tok, nil
}

// List returns every token, live ones first; never a secret.
func (t *Tokens) List(ctx context.Context) ([]store.Token, error) { return t.st.ListTokens(ctx) }

// Revoke revokes the live token named name; store.ErrNotFound (wrapped)
// if there is none.
func (t *Tokens) Revoke(ctx context.Context, name string) error { return t.st.RevokeToken(ctx, name) }

func hashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// wellFormed reports whether secret has the shape Create gives secrets.
func wellFormed(secret string) bool {
	rest, ok := strings.CutPrefix(secret, TokenPrefix)
	if !ok || len(rest) != base64.RawURLEncoding.EncodedLen(secretBytes) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(rest)
	return err == nil
}

// Authenticate returns the principal a token secret stands for. It returns
// ErrNoToken, ErrMalformedToken, ErrUnknownToken, ErrExpiredToken or
// ErrRevokedToken for secrets that may not act, and another error when
// the store fails.
func (t *Tokens) Authenticate(ctx context.Context, secret string) (Principal, error) {
	if secret == "" {
		return Principal{}, ErrNoToken
	}
	if !wellFormed(secret) {
		return Principal{}, ErrMalformedToken
	}
	// The lookup is by hash: equal hashes mean equal secrets, and the
	// database never sees the secret, so no timing of string compares
	// leaks it.
	tok, err := t.st.TokenByHash(ctx, hashSecret(secret))
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, ErrUnknownToken
	}
	if err != nil {
		return Principal{}, fmt.Errorf("look up token: %w", err)
	}
	now := t.now()
	switch {
	case !tok.RevokedAt.IsZero():
		return Principal{}, fmt.Errorf("%w (token %s)", ErrRevokedToken, tok.Name)
	case !tok.ExpiresAt.IsZero() && !now.Before(tok.ExpiresAt):
		return Principal{}, fmt.Errorf("%w (token %s, expired %s)", ErrExpiredToken, tok.Name, tok.ExpiresAt.Format(time.RFC3339))
	}
	scope, err := ParseScope(tok.Scope)
	if err != nil {
		return Principal{}, fmt.Errorf("token %s: %w", tok.Name, err)
	}
	t.touch(ctx, tok.ID, now)
	return Principal{Name: tok.Name, Kind: "token", Scope: scope, Apps: tok.Apps}, nil
}

// touch records the token's use, at most once a minute per token, so
// authenticating is not a database write per request.
func (t *Tokens) touch(ctx context.Context, id int64, now time.Time) {
	t.mu.Lock()
	last, ok := t.touched[id]
	fresh := ok && now.Sub(last) < time.Minute
	if !fresh {
		t.touched[id] = now
	}
	t.mu.Unlock()
	if fresh {
		return
	}
	// Best effort: last_used_at is informational, a failure must not
	// refuse the request.
	_ = t.st.TouchToken(context.WithoutCancel(ctx), id, now.UTC())
}
