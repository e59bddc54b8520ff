// Command pulumi-language-nodejs is a minimal Node.js language host for the
// sandbox. The upstream host lives in the module
// github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3, which the
// Go module proxy reachable here does not serve, so this is our own small
// implementation of the parts `pulumi preview/up/destroy` use:
//
//   - Handshake, GetPluginInfo
//   - GetRequiredPackages / GetRequiredPlugins: providers named by
//     node_modules/**/package.json with {"pulumi": {"resource": true}}
//   - Run: spawns `node [nodeargs] node_modules/@pulumi/pulumi/cmd/run ...`
//     with the flags and environment that @pulumi/pulumi's cmd/run reads.
//
// Everything else (new, convert, install, about, packages) is unimplemented.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// version is set at link time by sandbox/build-toolchain.sh.
var version = "0.0.0-dev"

// Exit code of @pulumi/pulumi's cmd/run after it has already logged a
// user-actionable error (nodeJSProcessExitedAfterLoggingUserActionableMessage).
const bailExitCode = 32

func main() {
	// The engine passes optional logging/tracing flags, then the engine
	// address as the last positional argument.
	var engineAddress, tracing string
	args := os.Args[1:]
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--tracing" || a == "-tracing":
			if i+1 < len(args) {
				tracing = args[i+1]
				i++
			}
		case strings.HasPrefix(a, "--tracing=") || strings.HasPrefix(a, "-tracing="):
			tracing = a[strings.Index(a, "=")+1:]
		case strings.HasPrefix(a, "-"):
			// --logtostderr, -v=N, --root=...: accepted and ignored.
		default:
			engineAddress = a
		}
	}

	nodeBin, err := exec.LookPath("node")
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-nodejs: could not find node on the $PATH: %v\n", err)
		os.Exit(1)
	}

	host := &nodeHost{nodeBin: nodeBin, engineAddress: engineAddress, tracing: tracing}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
		Options: rpcutil.OpenTracingServerInterceptorOptions(nil),
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-nodejs: could not start RPC server: %v\n", err)
		os.Exit(1)
	}
	// The engine reads the port from our first line of stdout.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-nodejs: RPC server stopped: %v\n", err)
		os.Exit(1)
	}
}

type nodeHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	nodeBin       string
	engineAddress string
	tracing       string
}

func (h *nodeHost) Handshake(ctx context.Context,
	req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	if req.GetEngineAddress() != "" {
		h.engineAddress = req.GetEngineAddress()
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *nodeHost) GetPluginInfo(ctx context.Context, _ *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

func (h *nodeHost) GetRequiredPackages(ctx context.Context,
	req *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	deps, err := requiredPlugins(req.GetInfo())
	if err != nil {
		return nil, err
	}
	return &pulumirpc.GetRequiredPackagesResponse{Packages: deps}, nil
}

func (h *nodeHost) GetRequiredPlugins(ctx context.Context,
	req *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	deps, err := requiredPlugins(req.GetInfo())
	if err != nil {
		return nil, err
	}
	plugins := make([]*pulumirpc.PluginDependency, 0, len(deps))
	for _, d := range deps {
		plugins = append(plugins, &pulumirpc.PluginDependency{
			Name: d.Name, Kind: d.Kind, Version: d.Version, Server: d.Server,
		})
	}
	return &pulumirpc.GetRequiredPluginsResponse{Plugins: plugins}, nil
}

type packageJSON struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Pulumi  struct {
		Resource bool   `json:"resource"`
		Name     string `json:"name"`
		Version  string `json:"version"`
		Server   string `json:"server"`
	} `json:"pulumi"`
}

// requiredPlugins finds the provider packages installed in the node_modules
// directory nearest to the program (top-level and scoped packages).
func requiredPlugins(info *pulumirpc.ProgramInfo) ([]*pulumirpc.PackageDependency, error) {
	nm := findNodeModules(programDir(info))
	if nm == "" {
		return nil, nil
	}
	var pkgDirs []string
	entries, err := os.ReadDir(nm)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		p := filepath.Join(nm, e.Name())
		if strings.HasPrefix(e.Name(), "@") {
			sub, err := os.ReadDir(p)
			if err != nil {
				continue
			}
			for _, s := range sub {
				pkgDirs = append(pkgDirs, filepath.Join(p, s.Name()))
			}
			continue
		}
		pkgDirs = append(pkgDirs, p)
	}
	seen := map[string]bool{}
	var deps []*pulumirpc.PackageDependency
	for _, d := range pkgDirs {
		b, err := os.ReadFile(filepath.Join(d, "package.json"))
		if err != nil {
			continue
		}
		var pj packageJSON
		if json.Unmarshal(b, &pj) != nil || !pj.Pulumi.Resource {
			continue
		}
		name := pj.Pulumi.Name
		if name == "" {
			name = strings.TrimPrefix(pj.Name, "@pulumi/")
			name = strings.TrimPrefix(name, "@")
		}
		v := pj.Pulumi.Version
		if v == "" {
			v = pj.Version
		}
		if v != "" && !strings.HasPrefix(v, "v") {
			v = "v" + v
		}
		key := name + "@" + v
		if seen[key] {
			continue
		}
		seen[key] = true
		deps = append(deps, &pulumirpc.PackageDependency{
			Name: name, Kind: "resource", Version: v, Server: pj.Pulumi.Server,
		})
	}
	return deps, nil
}

func programDir(info *pulumirpc.ProgramInfo) string {
	if info == nil {
		wd, _ := os.Getwd()
		return wd
	}
	if d := info.GetProgramDirectory(); d != "" {
		return d
	}
	return info.GetRootDirectory()
}

func findNodeModules(dir string) string {
	for d := dir; ; d = filepath.Dir(d) {
		p := filepath.Join(d, "node_modules")
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

func (h *nodeHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	info := req.GetInfo()
	pwd := req.GetPwd()
	pdir := programDir(info)
	if pdir == "" {
		pdir = pwd
	}
	nm := findNodeModules(pdir)
	if nm == "" {
		return nil, status.Error(codes.FailedPrecondition,
			"it looks like the Pulumi SDK has not been installed: no node_modules found; run npm install")
	}
	runPath := os.Getenv("PULUMI_LANGUAGE_NODEJS_RUN_PATH")
	if runPath == "" {
		runPath = filepath.Join(nm, "@pulumi", "pulumi", "cmd", "run")
	}
	if _, err := os.Stat(runPath); err != nil {
		return nil, status.Errorf(codes.FailedPrecondition,
			"it looks like @pulumi/pulumi is not installed (%s missing); run npm install", runPath)
	}

	opts := map[string]any{}
	if info != nil && info.GetOptions() != nil {
		opts = info.GetOptions().AsMap()
	}

	var args []string
	if s, ok := opts["nodeargs"].(string); ok && s != "" {
		args = append(args, strings.Fields(s)...)
	}
	args = append(args, runPath)
	add := func(k, v string) {
		if v != "" {
			args = append(args, "--"+k, v)
		}
	}
	add("monitor", req.GetMonitorAddress())
	add("engine", h.engineAddress)
	add("organization", req.GetOrganization())
	add("project", req.GetProject())
	add("stack", req.GetStack())
	add("pwd", pwd)
	if info != nil {
		add("root-directory", info.GetRootDirectory())
	}
	if req.GetDryRun() {
		args = append(args, "--dry-run")
	}
	if req.GetParallel() > 0 {
		add("parallel", strconv.Itoa(int(req.GetParallel())))
	}
	add("tracing", h.tracing)
	program := req.GetProgram() //nolint:staticcheck
	if info != nil && info.GetEntryPoint() != "" {
		program = info.GetEntryPoint()
		if program != "." && info.GetProgramDirectory() != "" {
			program = filepath.Join(info.GetProgramDirectory(), program)
		} else if program == "." && info.GetProgramDirectory() != "" && info.GetProgramDirectory() != pwd {
			program = info.GetProgramDirectory()
		}
	}
	if program == "" {
		program = "."
	}
	args = append(args, program)
	args = append(args, req.GetArgs()...)

	cfg, err := json.Marshal(req.GetConfig())
	if err != nil {
		return nil, err
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	sk, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, err
	}

	env := os.Environ()
	env = append(env, "PULUMI_CONFIG="+string(cfg), "PULUMI_CONFIG_SECRET_KEYS="+string(sk))
	typescript := true
	if v, ok := opts["typescript"].(bool); ok {
		typescript = v
	}
	if typescript {
		env = append(env, "PULUMI_NODEJS_TYPESCRIPT=true")
	}
	if s, ok := opts["tsconfig"].(string); ok && s != "" {
		env = append(env, "PULUMI_NODEJS_TSCONFIG_PATH="+s)
	}

	cmd := exec.CommandContext(ctx, h.nodeBin, args...)
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	cmd.Env = env
	if pwd != "" {
		cmd.Dir = pwd
	}
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if exitErr.ExitCode() == bailExitCode {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{
				Error: fmt.Sprintf("Program exited with non-zero exit code: %d", exitErr.ExitCode()),
			}, nil
		}
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("could not run node: %v", err)}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}
