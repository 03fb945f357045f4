package daemon

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	gossh "golang.org/x/crypto/ssh"

	"github.com/xcloud-dev/xcloud/daemon/secret"
	"github.com/xcloud-dev/xcloud/store"
)

func TestParseSyncURL(t *testing.T) {
	for _, tc := range []struct {
		url, kind, user string
		refused         string // part of the one-line refusal; "" accepts
	}{
		{url: "https://example.com/me/app.git", kind: "http"},
		{url: "http://127.0.0.1:8080/app.git", kind: "http"},
		{url: "git://example.com/app.git", kind: "git"},
		{url: "ssh://git@example.com/me/app.git", kind: "ssh", user: "git"},
		{url: "ssh://example.com:2222/app.git", kind: "ssh", user: "git"},
		{url: "git@example.com:me/app.git", kind: "ssh", user: "git"},
		{url: "deploy@example.com:/srv/app.git", kind: "ssh", user: "deploy"},
		{url: "https://user:secret@example.com/app.git", refused: "credentials"},
		{url: "https://ghp_token@example.com/app.git", refused: "credentials"},
		{url: "ssh://git:pw@example.com/app.git", refused: "credentials"},
		{url: "git:pw@example.com:me/app.git", refused: "credentials"},
		{url: "git://user@example.com/app.git", refused: "credentials"},
		{url: "file:///etc/app.git", refused: "scheme"},
		{url: "/srv/app.git", refused: "not a repository URL"},
		{url: "ftp://example.com/app.git", refused: "scheme"},
		{url: "", refused: "no repository URL"},
	} {
		u, err := parseSyncURL(tc.url)
		if tc.refused != "" {
			if err == nil || !strings.Contains(err.Error(), tc.refused) {
				t.Errorf("%q: err %v, want one naming %q", tc.url, err, tc.refused)
			}
			if err != nil && strings.Contains(err.Error(), "secret") || err != nil && strings.Contains(err.Error(), ":pw@") {
				t.Errorf("%q: the refusal repeats the credentials: %v", tc.url, err)
			}
			continue
		}
		if err != nil || u.Kind != tc.kind || u.User != tc.user {
			t.Errorf("%q: got %+v, %v; want kind %s user %q", tc.url, u, err, tc.kind, tc.user)
		}
	}
}

func TestResolveRemoteRef(t *testing.T) {
	h := plumbing.NewHash("1111111111111111111111111111111111111111")
	refs := []*plumbing.Reference{
		plumbing.NewSymbolicReference(plumbing.HEAD, "refs/heads/trunk"),
		plumbing.NewHashReference("refs/heads/trunk", h),
		plumbing.NewHashReference("refs/heads/feature", h),
		plumbing.NewHashReference("refs/tags/v1", h),
	}
	for want, got := range map[string]string{
		"": "refs/heads/trunk", "feature": "refs/heads/feature", "v1": "refs/tags/v1", "refs/heads/feature": "refs/heads/feature",
	} {
		n, err := resolveRemoteRef(refs, want)
		if err != nil || n.String() != got {
			t.Errorf("%q: got %s, %v; want %s", want, n, err, got)
		}
	}
	if _, err := resolveRemoteRef(refs, "nope"); err == nil || !strings.Contains(err.Error(), `"nope" does not exist`) {
		t.Errorf("missing ref: %v", err)
	}
}

func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func TestVerifyWebhook(t *testing.T) {
	const key = "s3cret"
	body := []byte(`{"ref":"refs/heads/main"}`)
	for _, tc := range []struct {
		name     string
		headers  map[string]string
		forge    string // "" : refused
		delivery string
	}{
		{"github", map[string]string{"X-Hub-Signature-256": "sha256=" + sign(key, body), "X-GitHub-Delivery": "d1"}, "github", "d1"},
		{"github wrong key", map[string]string{"X-Hub-Signature-256": "sha256=" + sign("other", body)}, "", ""},
		{"github no prefix", map[string]string{"X-Hub-Signature-256": sign(key, body)}, "", ""},
		{"github not hex", map[string]string{"X-Hub-Signature-256": "sha256=zz"}, "", ""},
		{"gitea", map[string]string{"X-Gitea-Signature": sign(key, body), "X-Gitea-Delivery": "g1"}, "gitea", "g1"},
		{"gitea wrong", map[string]string{"X-Gitea-Signature": sign(key, []byte("other body"))}, "", ""},
		{"gitlab", map[string]string{"X-Gitlab-Token": key, "X-Gitlab-Event-UUID": "u1"}, "gitlab", "u1"},
		{"gitlab wrong", map[string]string{"X-Gitlab-Token": "s3cre"}, "", ""},
		{"none", map[string]string{}, "", ""},
		{"github sha1 only", map[string]string{"X-Hub-Signature": "sha1=abc"}, "", ""},
	} {
		h := http.Header{}
		for k, v := range tc.headers {
			h.Set(k, v)
		}
		got, err := verifyWebhook(h, body, key)
		if tc.forge == "" {
			if err == nil {
				t.Errorf("%s: accepted", tc.name)
			}
			continue
		}
		if err != nil || got.forge != tc.forge || got.delivery != tc.delivery {
			t.Errorf("%s: got %+v, %v", tc.name, got, err)
		}
	}
}

// TestWebhookHandlerRefusesAndReplays drives the handler with a real store:
// unsigned, wrongly signed and replayed deliveries change nothing.
func TestWebhookHandlerRefusesAndReplays(t *testing.T) {
	st := newAppsStore(t, "hello")
	box, err := secret.New(make([]byte, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	d := New(Options{Store: st, Secrets: box, ReservedHosts: []string{"xcloud.test"}, Logger: slog.New(slog.DiscardHandler)})
	ctx := t.Context()
	key, url, err := d.Webhook(ctx, "hello")
	if err != nil || !strings.HasSuffix(url, "xcloud.test/.xcloud/hooks/hello") {
		t.Fatalf("Webhook: %q, %q, %v", key, url, err)
	}
	if again, _, _ := d.Webhook(ctx, "hello"); again != key {
		t.Fatalf("the secret changed between calls")
	}
	h := d.WebhookHandler()
	post := func(app string, body string, hdr map[string]string) (int, string) {
		req := httptest.NewRequest(http.MethodPost, WebhookPath+app, strings.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	body := `{"ref":"refs/heads/main"}`
	if code, _ := post("hello", body, nil); code != http.StatusUnauthorized {
		t.Errorf("unsigned: %d, want 401", code)
	}
	if code, _ := post("hello", body, map[string]string{"X-Hub-Signature-256": "sha256=" + sign("wrong", []byte(body))}); code != http.StatusUnauthorized {
		t.Errorf("wrong signature: %d, want 401", code)
	}
	if code, _ := post("nosuch", body, map[string]string{"X-Hub-Signature-256": "sha256=" + sign(key, []byte(body))}); code != http.StatusUnauthorized {
		t.Errorf("unknown app: %d, want 401", code)
	}
	signed := map[string]string{"X-Hub-Signature-256": "sha256=" + sign(key, []byte(body)), "X-GitHub-Delivery": "abc"}
	// Signed but no source yet: refused, yet the delivery is spent.
	if code, msg := post("hello", body, signed); code != http.StatusConflict || !strings.Contains(msg, "no git:sync source") {
		t.Errorf("no source: %d %q", code, msg)
	}
	if code, msg := post("hello", body, signed); code != http.StatusConflict || !strings.Contains(msg, "received already") {
		t.Errorf("replay: %d %q, want 409 received already", code, msg)
	}
	evs, err := st.ListEvents(ctx, "hello", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if strings.HasPrefix(e.Type, "git:") {
			t.Errorf("a refused webhook recorded %s", e.Type)
		}
	}
}

// TestDeployKeyAndHostKeyTrust: the deploy key is made once and sealed;
// an SSH remote's host key is trusted on first use and another key is
// refused after that.
func TestDeployKeyAndHostKeyTrust(t *testing.T) {
	st := newAppsStore(t, "hello")
	box, err := secret.New(make([]byte, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	d := New(Options{Store: st, Secrets: box, Logger: slog.New(slog.DiscardHandler)})
	ctx := t.Context()
	u, err := parseSyncURL("git@forge.test:me/hello.git")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.syncAuth("hello", u, store.GitSync{App: "hello"}); err == nil || !strings.Contains(err.Error(), "git:deploy-key hello") {
		t.Fatalf("SSH URL without a deploy key: %v", err)
	}
	pub, err := d.DeployKey(ctx, "hello")
	if err != nil || !strings.HasPrefix(pub, "ssh-ed25519 ") {
		t.Fatalf("DeployKey: %q, %v", pub, err)
	}
	if again, _ := d.DeployKey(ctx, "hello"); again != pub {
		t.Fatalf("the deploy key changed: %q then %q", pub, again)
	}
	g, err := st.GitSync(ctx, "hello")
	if err != nil || strings.Contains(string(g.DeployKey), "PRIVATE KEY") {
		t.Fatalf("the private key is stored in plain text (%v)", err)
	}
	hostKey := func() gossh.PublicKey {
		pk, _, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		k, err := gossh.NewPublicKey(pk)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	first, other := hostKey(), hostKey()
	auth, seen, err := d.syncAuth("hello", u, g)
	if err != nil {
		t.Fatal(err)
	}
	cb := auth.(*gitssh.PublicKeys).HostKeyCallback
	if err := cb("forge.test:22", nil, first); err != nil || *seen == "" {
		t.Fatalf("first use: %v, seen %q", err, *seen)
	}
	g.KnownHost = *seen
	auth, _, _ = d.syncAuth("hello", u, g)
	cb = auth.(*gitssh.PublicKeys).HostKeyCallback
	if err := cb("forge.test:22", nil, first); err != nil {
		t.Errorf("the trusted key: %v", err)
	}
	if err := cb("forge.test:22", nil, other); err == nil || !strings.Contains(err.Error(), "--forget-host") {
		t.Errorf("another key: %v, want a refusal", err)
	}
}

// TestLockRepo: a push and a sync of one app take turns; other apps do not
// wait.
func TestLockRepo(t *testing.T) {
	d := New(Options{Logger: slog.New(slog.DiscardHandler)})
	ctx := t.Context()
	unlock, err := d.LockRepo(ctx, "a", nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := d.LockRepo(ctx, "b", func() { t.Error("app b waited for app a") })
	if err != nil {
		t.Fatal(err)
	}
	other()
	waited := make(chan struct{})
	got := make(chan func(), 1)
	go func() {
		u, err := d.LockRepo(ctx, "a", func() { close(waited) })
		if err != nil {
			t.Error(err)
		}
		got <- u
	}()
	<-waited
	select {
	case <-got:
		t.Fatal("the second holder got the lock while the first held it")
	default:
	}
	unlock()
	(<-got)()
}

// TestPeelsTo: polling a synced annotated tag sees the tag's own hash; it
// is known when it peels to the commit synced last.
func TestPeelsTo(t *testing.T) {
	repos := t.TempDir()
	repo, err := openOrInitBare(filepath.Join(repos, "hello.git"))
	if err != nil {
		t.Fatal(err)
	}
	sig := &object.Signature{Name: "t", Email: "t@example.com", When: time.Unix(1, 0)}
	obj := repo.Storer.NewEncodedObject()
	tree := &object.Tree{}
	if err := tree.Encode(obj); err != nil {
		t.Fatal(err)
	}
	treeHash, err := repo.Storer.SetEncodedObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	commit := &object.Commit{Author: *sig, Committer: *sig, Message: "c", TreeHash: treeHash}
	obj = repo.Storer.NewEncodedObject()
	if err := commit.Encode(obj); err != nil {
		t.Fatal(err)
	}
	commitHash, err := repo.Storer.SetEncodedObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	tag := &object.Tag{Name: "v1", Tagger: *sig, Message: "v1", TargetType: plumbing.CommitObject, Target: commitHash}
	obj = repo.Storer.NewEncodedObject()
	if err := tag.Encode(obj); err != nil {
		t.Fatal(err)
	}
	tagHash, err := repo.Storer.SetEncodedObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	d := New(Options{ReposDir: repos, Logger: slog.New(slog.DiscardHandler)})
	if !d.peelsTo("hello", tagHash.String(), commitHash.String()) {
		t.Error("the synced tag is not known")
	}
	if d.peelsTo("hello", tagHash.String(), strings.Repeat("1", 40)) || d.peelsTo("hello", commitHash.String(), commitHash.String()) {
		t.Error("peelsTo matched what it should not")
	}
}
