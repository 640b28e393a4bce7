package routes

import (
	"os"
	"strings"
	"testing"
)

// Every error code the API answers has a line in the README's
// troubleshooting table, saying what to do about it.
func TestREADMETroubleshootsEveryCode(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), "### Troubleshooting")
	if !ok {
		t.Fatal("README has no Troubleshooting section")
	}
	table, _, _ := strings.Cut(after, "\n\n#")
	codes := []string{"method_not_allowed"}
	for code := range statusOf {
		codes = append(codes, code)
	}
	for _, code := range codes {
		if !strings.Contains(table, "| `"+code+"` |") {
			t.Errorf("README's troubleshooting table has no row for %s", code)
		}
	}
}
