// Command pulumi-resource-command is the sandbox's own stand-in for the Pulumi
// Command provider (npm @pulumi/command). The upstream provider module
// (github.com/pulumi/pulumi-command/provider) is not served by the Go module
// proxy reachable here. This implements, with golang.org/x/crypto/ssh, the
// resources the Calico program uses, with the upstream property names:
// remote.Command, remote.CopyToRemote and local.Command.
//
// Semantics follow upstream v1: a change to `triggers` replaces; any other
// input change runs `update` (or `create` again when `update` is unset);
// delete runs `delete`. With addPreviousOutputInEnv (default true), update
// and delete see PULUMI_COMMAND_STDOUT/STDERR of the previous run.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"calico-hardway/sandbox/toolchain/providers/internal/prov"
)

var version = "0.0.0-dev"

func main() {
	prov.Serve(&prov.Provider{
		Name:    "command",
		Version: version,
		Resources: map[string]prov.Resource{
			"command:remote:Command":      command{remote: true},
			"command:local:Command":       command{remote: false},
			"command:remote:CopyToRemote": copyToRemote{},
		},
	})
}

// ------------------------------------------------------------ SSH

func dial(ctx context.Context, conn map[string]any) (*ssh.Client, string, error) {
	host := prov.Str(conn, "host")
	port := int(prov.Num(conn, "port", 22))
	user := prov.Str(conn, "user")
	if user == "" {
		user = "root"
	}
	addr := net.JoinHostPort(host, fmt.Sprint(port))
	where := fmt.Sprintf("%s@%s", user, addr)
	var auths []ssh.AuthMethod
	if pk := prov.Str(conn, "privateKey"); pk != "" {
		var signer ssh.Signer
		var err error
		if pw := prov.Str(conn, "privateKeyPassword"); pw != "" {
			signer, err = ssh.ParsePrivateKeyWithPassphrase([]byte(pk), []byte(pw))
		} else {
			signer, err = ssh.ParsePrivateKey([]byte(pk))
		}
		if err != nil {
			return nil, where, fmt.Errorf("parsing privateKey for %s: %w", where, err)
		}
		auths = append(auths, ssh.PublicKeys(signer))
	}
	if pw := prov.Str(conn, "password"); pw != "" {
		auths = append(auths, ssh.Password(pw))
	}
	sock := prov.Str(conn, "agentSocketPath")
	if sock == "" {
		sock = os.Getenv("SSH_AUTH_SOCK")
	}
	if sock != "" {
		if c, err := net.Dial("unix", sock); err == nil {
			auths = append(auths, ssh.PublicKeysCallback(agent.NewClient(c).Signers))
		}
	}
	cfg := &ssh.ClientConfig{
		User:            user,
		Auth:            auths,
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), // as upstream: host keys are not checked
		Timeout:         time.Duration(prov.Num(conn, "perDialTimeout", 15)) * time.Second,
	}
	limit := int(prov.Num(conn, "dialErrorLimit", 10))
	if limit == 0 {
		limit = 1
	}
	var lastErr error
	for attempt := 1; limit < 0 || attempt <= limit; attempt++ {
		c, err := ssh.Dial("tcp", addr, cfg)
		if err == nil {
			return c, where, nil
		}
		lastErr = err
		if strings.Contains(err.Error(), "unable to authenticate") {
			break
		}
		select {
		case <-ctx.Done():
			return nil, where, ctx.Err()
		case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
		}
	}
	return nil, where, fmt.Errorf("ssh: could not connect to %s: %w", where, lastErr)
}

func runRemote(ctx context.Context, conn map[string]any, cmd, stdin string, env map[string]string) (string, string, error) {
	client, where, err := dial(ctx, conn)
	if err != nil {
		return "", "", err
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		return "", "", fmt.Errorf("ssh session on %s: %w", where, err)
	}
	defer sess.Close()
	// Environment: SSH "env" requests (needs AcceptEnv on the server, like
	// upstream); if the server refuses one, fall back to exports in front of
	// the command.
	var prefix strings.Builder
	for _, k := range sortedKeys(env) {
		if err := sess.Setenv(k, env[k]); err != nil {
			fmt.Fprintf(&prefix, "export %s=%s; ", k, shellQuote(env[k]))
		}
	}
	var stdout, stderr bytes.Buffer
	sess.Stdout, sess.Stderr = &stdout, &stderr
	if stdin != "" {
		sess.Stdin = strings.NewReader(stdin)
	}
	done := make(chan error, 1)
	go func() { done <- sess.Run(prefix.String() + cmd) }()
	select {
	case <-ctx.Done():
		_ = sess.Signal(ssh.SIGKILL)
		return stdout.String(), stderr.String(), ctx.Err()
	case err = <-done:
	}
	if err != nil {
		return stdout.String(), stderr.String(),
			fmt.Errorf("command on %s failed: %w\nstdout:\n%s\nstderr:\n%s", where, err, stdout.String(), stderr.String())
	}
	return stdout.String(), stderr.String(), nil
}

func runLocal(ctx context.Context, in map[string]any, cmd, stdin string, env map[string]string) (string, string, error) {
	interp := prov.Strs(in, "interpreter")
	if len(interp) == 0 {
		interp = []string{"/bin/sh", "-c"}
	}
	c := exec.CommandContext(ctx, interp[0], append(interp[1:], cmd)...)
	c.Dir = prov.Str(in, "dir")
	c.Env = os.Environ()
	for _, k := range sortedKeys(env) {
		c.Env = append(c.Env, k+"="+env[k])
	}
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	if stdin != "" {
		c.Stdin = strings.NewReader(stdin)
	}
	if err := c.Run(); err != nil {
		return stdout.String(), stderr.String(),
			fmt.Errorf("local command failed: %w\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	return stdout.String(), stderr.String(), nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'" }

// ------------------------------------------------------------ Command

type command struct{ remote bool }

func (c command) inputs() []string {
	in := []string{"create", "update", "delete", "environment", "stdin", "addPreviousOutputInEnv", "logging"}
	if c.remote {
		return append(in, "connection")
	}
	return append(in, "dir", "interpreter", "assetPaths", "archivePaths")
}

func (c command) Check(news map[string]any) (map[string]any, []prov.Failure) {
	var f []prov.Failure
	if c.remote {
		conn := prov.Obj(news, "connection")
		if conn == nil {
			if _, unknown := news["connection"].(prov.Unknown); !unknown {
				f = append(f, prov.Failure{Property: "connection", Reason: "connection is required"})
			}
		} else if _, ok := conn["host"]; !ok {
			f = append(f, prov.Failure{Property: "connection.host", Reason: "connection.host is required"})
		}
	}
	if _, ok := news["addPreviousOutputInEnv"]; !ok {
		news["addPreviousOutputInEnv"] = true
	}
	return news, f
}

func (c command) Diff(_ string, olds, news map[string]any) ([]string, []string) {
	changed := prov.ChangedKeys(olds, news, append(c.inputs(), "triggers"))
	var replaces []string
	for _, k := range changed {
		if k == "triggers" {
			replaces = append(replaces, k)
		}
	}
	return changed, replaces
}

func envOf(in map[string]any) map[string]string {
	env := map[string]string{}
	for k, v := range prov.Obj(in, "environment") {
		if s, ok := v.(string); ok {
			env[k] = s
		}
	}
	return env
}

func (c command) run(ctx context.Context, in map[string]any, cmd string, prev map[string]any) (map[string]any, error) {
	env := envOf(in)
	if prev != nil && prov.Bool(in, "addPreviousOutputInEnv", true) {
		env["PULUMI_COMMAND_STDOUT"] = prov.Str(prev, "stdout")
		env["PULUMI_COMMAND_STDERR"] = prov.Str(prev, "stderr")
	}
	var stdout, stderr string
	var err error
	if c.remote {
		stdout, stderr, err = runRemote(ctx, prov.Obj(in, "connection"), cmd, prov.Str(in, "stdin"), env)
	} else {
		stdout, stderr, err = runLocal(ctx, in, cmd, prov.Str(in, "stdin"), env)
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"stdout": strings.TrimSuffix(stdout, "\n"), "stderr": strings.TrimSuffix(stderr, "\n")}, nil
}

func (c command) Create(ctx context.Context, urn string, in map[string]any) (string, map[string]any, error) {
	outs := map[string]any{"stdout": "", "stderr": ""}
	if cmd := prov.Str(in, "create"); cmd != "" {
		o, err := c.run(ctx, in, cmd, nil)
		if err != nil {
			return "", nil, fmt.Errorf("%s: %w", prov.URNName(urn), err)
		}
		outs = o
	}
	return prov.RandomID(prov.URNName(urn) + "-"), outs, nil
}

func (c command) Update(ctx context.Context, urn, _ string, olds, news map[string]any) (map[string]any, error) {
	cmd := prov.Str(news, "update")
	if cmd == "" {
		cmd = prov.Str(news, "create")
	}
	if cmd == "" {
		return map[string]any{"stdout": prov.Str(olds, "stdout"), "stderr": prov.Str(olds, "stderr")}, nil
	}
	o, err := c.run(ctx, news, cmd, olds)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", prov.URNName(urn), err)
	}
	return o, nil
}

func (c command) Delete(ctx context.Context, urn, _ string, olds map[string]any) error {
	cmd := prov.Str(olds, "delete")
	if cmd == "" {
		return nil
	}
	if _, err := c.run(ctx, olds, cmd, olds); err != nil {
		return fmt.Errorf("%s: %w", prov.URNName(urn), err)
	}
	return nil
}

// ------------------------------------------------------------ CopyToRemote

type copyToRemote struct{}

var copyInputs = []string{"connection", "source", "remotePath"}

func (copyToRemote) Check(news map[string]any) (map[string]any, []prov.Failure) {
	var f []prov.Failure
	if _, ok := news["source"]; !ok {
		f = append(f, prov.Failure{Property: "source", Reason: "source (an asset or archive) is required"})
	}
	if _, ok := news["remotePath"]; !ok {
		f = append(f, prov.Failure{Property: "remotePath", Reason: "remotePath is required"})
	}
	return news, f
}

func (copyToRemote) Diff(_ string, olds, news map[string]any) ([]string, []string) {
	changed := prov.ChangedKeys(olds, news, append(copyInputs, "triggers"))
	var replaces []string
	for _, k := range changed {
		if k == "triggers" {
			replaces = append(replaces, k)
		}
	}
	return changed, replaces
}

// writeRemote streams content over SSH stdin into a temp file, then renames it.
func writeRemote(ctx context.Context, conn map[string]any, dst string, mode os.FileMode, content io.Reader) error {
	b, err := io.ReadAll(content)
	if err != nil {
		return err
	}
	tmp := dst + ".pulumi-tmp"
	cmd := fmt.Sprintf("cat > %s && chmod %o %s && mv -f %s %s",
		shellQuote(tmp), mode.Perm(), shellQuote(tmp), shellQuote(tmp), shellQuote(dst))
	_, _, err = runRemote(ctx, conn, cmd, string(b), nil)
	if err != nil && len(b) == 0 {
		return err
	}
	if len(b) == 0 { // empty stdin: make sure the file exists
		_, _, err = runRemote(ctx, conn, fmt.Sprintf(": > %s && chmod %o %s", shellQuote(dst), mode.Perm(), shellQuote(dst)), "", nil)
	}
	return err
}

func (copyToRemote) copy(ctx context.Context, in map[string]any) error {
	conn := prov.Obj(in, "connection")
	dst := prov.Str(in, "remotePath")
	src, ok := in["source"].(*prov.Asset)
	if !ok {
		return errors.New("source must be an asset or archive")
	}
	switch {
	case !src.IsArchive && src.Path != "":
		st, err := os.Stat(src.Path)
		if err != nil {
			return err
		}
		f, err := os.Open(src.Path)
		if err != nil {
			return err
		}
		defer f.Close()
		return writeRemote(ctx, conn, dst, st.Mode(), f)
	case !src.IsArchive && src.URI == "":
		return writeRemote(ctx, conn, dst, 0o644, strings.NewReader(src.Text))
	case src.IsArchive && src.Path != "":
		st, err := os.Stat(src.Path)
		if err != nil {
			return err
		}
		if !st.IsDir() {
			return fmt.Errorf("archive %s: only directory archives are supported by the sandbox provider", src.Path)
		}
		base := path.Join(dst, filepath.Base(src.Path))
		return filepath.Walk(src.Path, func(p string, fi os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(src.Path, p)
			target := path.Join(base, filepath.ToSlash(rel))
			if fi.IsDir() {
				_, _, err := runRemote(ctx, conn, "mkdir -p "+shellQuote(target), "", nil)
				return err
			}
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			return writeRemote(ctx, conn, target, fi.Mode(), f)
		})
	}
	return errors.New("unsupported source: only file assets, string assets and directory archives are supported by the sandbox provider")
}

func (c copyToRemote) Create(ctx context.Context, urn string, in map[string]any) (string, map[string]any, error) {
	if err := c.copy(ctx, in); err != nil {
		return "", nil, fmt.Errorf("%s: %w", prov.URNName(urn), err)
	}
	return prov.RandomID(prov.URNName(urn) + "-"), map[string]any{}, nil
}

func (c copyToRemote) Update(ctx context.Context, urn, _ string, _, news map[string]any) (map[string]any, error) {
	if err := c.copy(ctx, news); err != nil {
		return nil, fmt.Errorf("%s: %w", prov.URNName(urn), err)
	}
	return map[string]any{}, nil
}

// Delete leaves the copied files in place, as upstream does.
func (copyToRemote) Delete(context.Context, string, string, map[string]any) error { return nil }
