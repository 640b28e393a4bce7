package routes

import (
	"os"
	"strings"
	"testing"
)

// Every error code the API answers has a line in docs/API.md's
// troubleshooting table, saying what to do about it.
func TestAPIDocTroubleshootsEveryCode(t *testing.T) {
	b, err := os.ReadFile("../docs/API.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), "### Troubleshooting")
	if !ok {
		t.Fatal("docs/API.md has no Troubleshooting section")
	}
	table, _, _ := strings.Cut(after, "\n\n#")
	codes := []string{"method_not_allowed"}
	for code := range statusOf {
		codes = append(codes, code)
	}
	for _, code := range codes {
		if !strings.Contains(table, "| `"+code+"` |") {
			t.Errorf("docs/API.md's troubleshooting table has no row for %s", code)
		}
	}
}
