package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/httpapi"
)

// workflows submit, get, ls, cancel and wait, drawn and with --json.
func TestWorkflowsCommands(t *testing.T) {
	t.Parallel()
	p := startServe(t, nil, "--demo=false")
	dir := t.TempDir()
	file := filepath.Join(dir, "wf.json")
	if err := os.WriteFile(file, []byte(`{"name": "publish-image-42", "jobs": [
		{"ref": "small", "kind": "thumbnail"}, {"ref": "large", "kind": "thumbnail"},
		{"ref": "publish", "kind": "publish", "depends_on": ["small", "large"]},
		{"ref": "album", "kind": "album", "children": [{"ref": "a1", "kind": "thumbnail"}]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var created httpapi.WorkflowCreated
	if err := json.Unmarshal([]byte(p.mustCLI(0, "workflows", "submit", file, "--json")), &created); err != nil || len(created.Jobs) != 5 {
		t.Fatalf("submit --json: %+v, %v", created, err)
	}
	drawn := p.mustCLI(0, "workflows", "get", created.ID)
	for _, want := range []string{
		"workflow " + created.ID + "  publish-image-42  running  (waiting 2, available 3)",
		"├── small", "├── publish", "<- small, large", "└── album", "    └── a1",
	} {
		if !strings.Contains(drawn, want) {
			t.Errorf("workflows get lacks %q:\n%s", want, drawn)
		}
	}
	if lines := strings.Split(strings.TrimSpace(drawn), "\n"); len(lines) != 6 {
		t.Errorf("workflows get draws %d lines, want 6:\n%s", len(lines), drawn)
	}
	if out := p.mustCLI(0, "workflows", "ls"); !strings.Contains(out, created.ID) || !strings.Contains(out, "running") {
		t.Errorf("workflows ls:\n%s", out)
	}
	if out := p.mustCLI(0, "workflows", "ls", "--state", "succeeded"); out != "no workflows\n" {
		t.Errorf("workflows ls --state succeeded: %q", out)
	}
	if out := p.mustCLI(0, "workflows", "cancel", created.ID, "--reason", "test"); !strings.Contains(out, "cancelled") {
		t.Errorf("workflows cancel: %q", out)
	}
	out := p.mustCLI(exitJobEnded, "workflows", "wait", created.ID)
	if !strings.Contains(out, "cancelled  (cancelled 5)") {
		t.Errorf("workflows wait of a cancelled workflow:\n%s", out)
	}
	bad := filepath.Join(dir, "cycle.json")
	if err := os.WriteFile(bad, []byte(`{"jobs": [{"ref": "a", "kind": "k", "depends_on": ["b"]}, {"ref": "b", "kind": "k", "depends_on": ["a"]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := p.cli("workflows", "submit", bad); code != exitFailure || !strings.Contains(stderr, "a -> b -> a") {
		t.Errorf("submit of a cycle: exit %d, %s", code, stderr)
	}
	if _, _, code := p.cli("workflows", "get", "0190f5c5-9d5a-7d8e-9d4e-6b2a1c3d4e5f"); code != exitNotFound {
		t.Errorf("get of an unknown workflow: exit %d, want %d", code, exitNotFound)
	}
}
