package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/containernetworking/cni/libcni"
	cnitypes "github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	cniversion "github.com/containernetworking/cni/pkg/version"
)

// setupNetwork gives the pod its addresses: the node's with hostNetwork, else a network namespace of
// its own and a CNI ADD through the node's own CNI config and plugins.
func (w *podWorker) setupNetwork() error {
	p, _ := w.latest()
	if p.Spec.HostNetwork {
		w.netnsName = w.k.cfg.netns
		w.podIPs = []string{w.k.cfg.nodeIP}
		return nil
	}
	if w.rec.Netns == "" {
		w.rec.Netns = "sbxpod-" + string(p.UID)[:13]
		w.rec.ContainerID = "sbx" + strings.ReplaceAll(string(p.UID), "-", "")
		w.saveRecord()
	}
	w.netnsName = w.rec.Netns
	if _, err := os.Stat("/run/netns/" + w.rec.Netns); err != nil {
		if out, err := exec.Command("ip", "netns", "add", w.rec.Netns).CombinedOutput(); err != nil {
			return fmt.Errorf("ip netns add: %v %s", err, out)
		}
		_ = exec.Command("ip", "-n", w.rec.Netns, "link", "set", "lo", "up").Run()
	}
	list, rt, err := w.cniConfig()
	if err != nil {
		return err
	}
	// Marked before ADD: a failed ADD may still have allocated an address, which only DEL releases.
	w.rec.CNIAdded = true
	w.saveRecord()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := w.cni().AddNetworkList(ctx, list, rt)
	if err != nil {
		_ = w.cni().DelNetworkList(ctx, list, rt)
		return fmt.Errorf("CNI ADD (%s): %w", list.Name, err)
	}
	r, err := current.NewResultFromResult(res)
	if err != nil {
		return err
	}
	w.podIPs = nil
	for _, ip := range r.IPs {
		w.podIPs = append(w.podIPs, ip.Address.IP.String())
	}
	if len(w.podIPs) == 0 {
		return fmt.Errorf("CNI ADD returned no address")
	}
	return w.startAPIRelay()
}

func (w *podWorker) cniDel() error {
	list, rt, err := w.cniConfig()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return w.cni().DelNetworkList(ctx, list, rt)
}

// cniConfig: the first network config in the node's conf dir, in file-name order, as the container
// runtime picks it.
func (w *podWorker) cniConfig() (*libcni.NetworkConfigList, *libcni.RuntimeConf, error) {
	dir := filepath.Join(w.k.cfg.tree, "etc/cni/net.d")
	var files []string
	for _, pat := range []string{"*.conflist", "*.conf", "*.json"} {
		m, _ := filepath.Glob(filepath.Join(dir, pat))
		files = append(files, m...)
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, nil, fmt.Errorf("no network config in %s (the node's /etc/cni/net.d)", dir)
	}
	var list *libcni.NetworkConfigList
	var err error
	if strings.HasSuffix(files[0], ".conflist") {
		list, err = libcni.ConfListFromFile(files[0])
	} else {
		var c *libcni.PluginConfig
		if c, err = libcni.ConfFromFile(files[0]); err == nil {
			list, err = libcni.ConfListFromConf(c)
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", files[0], err)
	}
	rec := w.rec
	rt := &libcni.RuntimeConf{
		ContainerID: rec.ContainerID,
		NetNS:       "/run/netns/" + rec.Netns,
		IfName:      "eth0",
		Args: [][2]string{
			{"IgnoreUnknown", "1"}, {"K8S_POD_NAMESPACE", rec.Namespace}, {"K8S_POD_NAME", rec.Name},
			{"K8S_POD_INFRA_CONTAINER_ID", rec.ContainerID}, {"K8S_POD_UID", rec.UID},
		},
	}
	return list, rt, nil
}

func (w *podWorker) cni() *libcni.CNIConfig {
	return libcni.NewCNIConfigWithCacheDir([]string{"/opt/cni/bin"}, filepath.Join(w.k.cfg.state, "cni-cache"), &nodeExec{w.k})
}

// nodeExec runs CNI plugins as the container runtime does on a node: in the node's network
// namespace, with the node's tree as the root filesystem (so the plugins read that node's conflist,
// kubeconfig and /var/lib/calico/nodename), with /proc, /sys, /dev and /run/netns mounted in.
type nodeExec struct{ k *kubelet }

func (e *nodeExec) ExecPlugin(ctx context.Context, pluginPath string, stdin []byte, environ []string) ([]byte, error) {
	t := e.k.cfg.tree
	script := `set -e
T="$1"; shift
for d in proc sys dev run/netns; do mkdir -p "$T/$d"; done
mount -t proc proc "$T/proc"
mount -t sysfs sysfs "$T/sys"
mount --rbind /dev "$T/dev"
mount --rbind /run/netns "$T/run/netns"
exec chroot "$T" "$@"`
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", e.k.cfg.netns, "sh", "-c", script, "sh", t, pluginPath)
	cmd.Env = environ
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		// A plugin error is a JSON object on stdout.
		var perr cnitypes.Error
		if json.Unmarshal(stdout.Bytes(), &perr) == nil && perr.Msg != "" {
			return nil, &perr
		}
		return nil, fmt.Errorf("%s: %v: %s%s", pluginPath, err, stdout.String(), stderr.String())
	}
	return stdout.Bytes(), nil
}

func (e *nodeExec) FindInPath(plugin string, paths []string) (string, error) {
	for _, p := range paths {
		full := filepath.Join(p, plugin)
		if st, err := os.Stat(filepath.Join(e.k.cfg.tree, full)); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return full, nil
		}
	}
	return "", fmt.Errorf("CNI plugin %s not found in the node's %v", plugin, paths)
}

func (e *nodeExec) Decode(b []byte) (cniversion.PluginInfo, error) {
	return (&cniversion.PluginDecoder{}).Decode(b)
}

// startAPIRelay makes the API server reachable at KUBERNETES_SERVICE_HOST:PORT inside the pod's
// namespace: the sandbox's stand-in for kube-proxy's Service address of the API server.
func (w *podWorker) startAPIRelay() error {
	if w.k.cfg.apiSocket == "" {
		return nil
	}
	listen := fmt.Sprintf("TCP-LISTEN:%s,bind=%s,fork,reuseaddr", w.k.cfg.apiPort, w.k.cfg.apiHost)
	cmd := exec.Command("ip", "netns", "exec", w.rec.Netns, "socat", listen, "UNIX-CONNECT:"+w.k.cfg.apiSocket)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	w.rec.Pids = append(w.rec.Pids, cmd.Process.Pid)
	w.saveRecord()
	go func() { _ = cmd.Wait() }()
	// Ready once it accepts.
	for i := 0; i < 20; i++ {
		if exec.Command("ip", "netns", "exec", w.rec.Netns, "bash", "-c", "exec 3<>/dev/tcp/"+w.k.cfg.apiHost+"/"+w.k.cfg.apiPort).Run() == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("API relay in %s did not start", w.rec.Netns)
}

