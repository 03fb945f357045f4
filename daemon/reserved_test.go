package daemon

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

// The daemon's own host (API, dashboard) is the default host of an app
// named like its first label, or could be added as a domain: the proxy
// would give it to one of them silently. The engine refuses both (a
// host under the base domain is refused as an app's already; [api] host
// may be elsewhere).
func TestReservedHostRefused(t *testing.T) {
	e := newEngine(t, newAppsStore(t, "web"), newFakeRuntime(t))
	e.d.opts.ReservedHosts = []string{"xcloud.xcloud.test", "ops.example.org"}
	ctx := context.Background()

	_, err := e.d.AddApp(ctx, "xcloud")
	if !errors.Is(err, ErrDomainTaken) || !strings.Contains(err.Error(), "daemon's own host") {
		t.Fatalf("AddApp(xcloud) = %v, want the reserved-host refusal", err)
	}
	if _, err := e.d.App(ctx, "xcloud"); err == nil {
		t.Fatal("the refused app was created")
	}
	if err := e.d.Rename(ctx, RenameRequest{Old: "web", New: "xcloud"}, io.Discard); !errors.Is(err, ErrDomainTaken) {
		t.Fatalf("Rename(web → xcloud) = %v, want the reserved-host refusal", err)
	}
	if _, err := e.d.AddDomain(ctx, AddDomainRequest{App: "web", Host: "OPS.example.org"}); !errors.Is(err, ErrDomainTaken) {
		t.Fatalf("AddDomain(api host) = %v, want the reserved-host refusal", err)
	}
	if hosts, err := e.st.Domains(ctx, "web"); err != nil || len(hosts) != 0 {
		t.Fatalf("domains of web after the refusal: %v, %v", hosts, err)
	}
	if err := e.d.hostReserved("api.xcloud.test", "api"); err != nil {
		t.Fatalf("api.xcloud.test, not reserved, refused: %v", err)
	}
}
