package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// The termination message as a kubelet reports it: the file, capped at 4096 bytes, or the log tail
// for a failed, silent container under FallbackToLogsOnError.
func TestTerminationMessage(t *testing.T) {
	dir := t.TempDir()
	c := &container{dir: dir, logPath: filepath.Join(dir, "log")}
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(c.terminationFile(), `{"v":1,"r":[]}`)
	if got := c.terminationMessage(); got != `{"v":1,"r":[]}` {
		t.Fatalf("file: got %q", got)
	}
	write(c.terminationFile(), strings.Repeat("x", 5000))
	if got := c.terminationMessage(); len(got) != 4096 {
		t.Fatalf("cap: got %d bytes", len(got))
	}
	var lines []string
	for i := 0; i < 100; i++ {
		lines = append(lines, "line")
	}
	write(c.logPath, strings.Join(lines, "\n")+"\nsh: ping: not found\n")
	write(c.terminationFile(), "")
	c.exitCode = 127
	if got := c.terminationMessage(); got != "" {
		t.Fatalf("no fallback without the policy: got %q", got)
	}
	c.spec.TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
	got := c.terminationMessage()
	if !strings.HasSuffix(got, "sh: ping: not found") || strings.Count(got, "\n") != 79 {
		t.Fatalf("fallback: got %d lines ending %q", strings.Count(got, "\n")+1, got[len(got)-20:])
	}
	c.exitCode = 0
	if got := c.terminationMessage(); got != "" {
		t.Fatalf("no fallback after a clean exit: got %q", got)
	}
	if p := c.terminationPath(); p != "/dev/termination-log" {
		t.Fatalf("default path %q", p)
	}
	c.spec.TerminationMessagePath = "tmp/msg"
	if p := c.terminationPath(); p != "/tmp/msg" {
		t.Fatalf("path %q", p)
	}
}
