package blob_test

import (
	"testing"

	"github.com/gantry-dev/gantry/blob"
)

func TestValidateKey(t *testing.T) {
	t.Parallel()
	good := []string{"a", "jobs/0192f3c1-7c4e-7d2a-9f1e-3b1b2c9e8a10/payload", "a.b/c..d/...", "ünïcødé/ok", ".hidden", "a b"}
	for _, k := range good {
		if err := blob.ValidateKey(k); err != nil {
			t.Errorf("ValidateKey(%q): %v", k, err)
		}
	}
}
