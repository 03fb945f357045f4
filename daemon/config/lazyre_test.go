package config

import (
	"testing"

	"github.com/xcloud-dev/xcloud/internal/lazyre"
)

// A typo in a pattern compiled on first use fails here, not on its path.
func TestLazyPatternsCompile(t *testing.T) {
	if err := lazyre.Compiles(typeErrRe, ulimitRe, tableRe, keyRe); err != nil {
		t.Fatal(err)
	}
}
