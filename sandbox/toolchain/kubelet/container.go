package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// image is one image root built by build-toolchain.sh: the image's own files, and its ENTRYPOINT,
// CMD and ENV from its Dockerfile. An image that is not a calico/* image of the built version has no
// root: its command runs on Debian's userland (enough for the e2e's test pods).
type image struct {
	Root       string   `json:"-"`
	Entrypoint []string `json:"entrypoint"`
	Cmd        []string `json:"cmd"`
	Env        []string `json:"env"`
}

func (k *kubelet) image(ref string) (*image, error) {
	name, tag := ref, "latest"
	if i := strings.LastIndex(name, "@"); i >= 0 {
		name = name[:i]
	}
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name, tag = name[:i], name[i+1:]
	}
	i := strings.LastIndex(name, "calico/")
	if i < 0 {
		return &image{}, nil
	}
	repo := name[i+len("calico/"):]
	root := filepath.Join(k.cfg.images, repo)
	b, err := os.ReadFile(filepath.Join(root, ".image.json"))
	if err != nil {
		return nil, fmt.Errorf("image %s: calico/%s is not built in the sandbox (%s)", ref, repo, k.cfg.images)
	}
	built, _ := os.ReadFile(filepath.Join(k.cfg.images, "VERSION"))
	if strings.TrimSpace(string(built)) != tag {
		return nil, fmt.Errorf("image %s: the sandbox built Calico %s, not %s", ref, strings.TrimSpace(string(built)), tag)
	}
	img := &image{Root: root}
	if err := json.Unmarshal(b, img); err != nil {
		return nil, err
	}
	return img, nil
}

type container struct {
	w       *podWorker
	spec    corev1.Container
	init    bool
	logPath string
	dir     string

	mu        sync.Mutex
	cmd       *exec.Cmd
	nsPid     int // PID 1 of the container's PID namespace
	env       []string
	running   bool
	exited    chan struct{}
	exitCode  int
	restarts  int
	startedAt time.Time
	endedAt   time.Time
	waiting   string // reason while not running
	pause     bool   // no process (an image with no command): only the pod's network

	ready, everReady  bool
	readyOK, readyBad int
	liveBad           int
	nextProbe         time.Time
	nextLive          time.Time
	backoff           time.Duration
}

func newContainer(w *podWorker, spec corev1.Container, init bool) *container {
	dir := filepath.Join(w.dir, "c", spec.Name)
	logs := filepath.Join(w.k.cfg.state, "logs")
	_ = os.MkdirAll(logs, 0o755)
	return &container{
		w: w, spec: spec, init: init, dir: dir, backoff: time.Second,
		logPath: filepath.Join(logs, fmt.Sprintf("%s_%s_%s.log", w.rec.Namespace, w.rec.Name, spec.Name)),
	}
}

// start launches the container's process: `ip netns exec <pod netns> unshare --pid --fork sh setup`,
// where setup builds the root, mounts the volumes, and execs the command under chroot.
func (c *container) start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.startLocked(); err != nil {
		c.waiting = err.Error()
		c.running = false
		log.Printf("%s: container %s: %v", c.w.key(), c.spec.Name, err)
		c.exited = make(chan struct{})
		close(c.exited)
		c.exitCode = 128
	}
}

func (c *container) startLocked() error {
	img, err := c.w.k.image(c.spec.Image)
	if err != nil {
		return err
	}
	env, err := c.w.containerEnv(c.spec, img)
	if err != nil {
		return err
	}
	c.env = env
	argv := resolveArgv(c.spec, img, env)
	c.startedAt = time.Now()
	c.exited = make(chan struct{})
	c.readyOK, c.readyBad, c.liveBad = 0, 0, 0
	c.ready = false
	delay := func(s int32) time.Duration {
		d := time.Duration(s) * time.Second
		if d > 5*time.Second {
			d = 5 * time.Second
		}
		return d
	}
	if c.spec.ReadinessProbe != nil {
		c.nextProbe = c.startedAt.Add(delay(c.spec.ReadinessProbe.InitialDelaySeconds))
	}
	if c.spec.LivenessProbe != nil {
		c.nextLive = c.startedAt.Add(delay(c.spec.LivenessProbe.InitialDelaySeconds) + 10*time.Second)
	}
	if len(argv) == 0 {
		c.pause, c.running, c.waiting = true, true, ""
		return nil
	}
	// The termination message file starts empty on every start, as a kubelet's does.
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(c.terminationFile(), nil, 0o666); err != nil {
		return err
	}
	script, err := c.setupScript(img, argv)
	if err != nil {
		return err
	}
	lf, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(lf, "---- %s sbx-kubelet: start %q\n", time.Now().UTC().Format(time.RFC3339), argv)
	cmd := exec.Command("ip", "netns", "exec", c.w.netnsName, "unshare", "--pid", "--fork", "--kill-child=SIGKILL", "sh", script)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return err
	}
	c.cmd, c.running, c.waiting, c.nsPid = cmd, true, "", 0
	c.w.rec.Pids = append(c.w.rec.Pids, cmd.Process.Pid)
	c.w.saveRecord()
	exited := c.exited
	go func() {
		err := cmd.Wait()
		lf.Close()
		c.mu.Lock()
		c.running = false
		c.endedAt = time.Now()
		c.exitCode = 0
		if err != nil {
			c.exitCode = 1
			if ee, ok := err.(*exec.ExitError); ok {
				c.exitCode = ee.ExitCode()
			}
		}
		c.mu.Unlock()
		close(exited)
	}()
	return nil
}

// setupScript writes the shell script that builds the container's root and execs its command.
func (c *container) setupScript(img *image, argv []string) (string, error) {
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return "", err
	}
	root := filepath.Join(c.dir, "root")
	var b strings.Builder
	q := shellQuote
	fmt.Fprintf(&b, "set -e\nR=%s\n", q(root))
	b.WriteString(`mkdir -p "$R"
mount -t tmpfs -o mode=0755 sbx-ctr "$R"
cd "$R"
mkdir -p usr etc proc sys dev run tmp var .o/usr/u .o/usr/w .o/etc/u .o/etc/w
chmod 1777 tmp
ln -s usr/bin bin; ln -s usr/sbin sbin; ln -s usr/lib lib; ln -s usr/lib64 lib64; ln -s ../run var/run
`)
	for _, d := range []string{"usr", "etc"} {
		lower := "/" + d
		if img.Root != "" {
			if st, err := os.Stat(filepath.Join(img.Root, d)); err == nil && st.IsDir() {
				lower = filepath.Join(img.Root, d) + ":" + lower
			}
		}
		fmt.Fprintf(&b, "mount -t overlay sbx-%s -o lowerdir=%s,upperdir=.o/%s/u,workdir=.o/%s/w %s\n", d, q(lower), d, d, d)
	}
	if img.Root != "" {
		ents, _ := os.ReadDir(img.Root)
		for _, e := range ents {
			n := e.Name()
			if n == "usr" || n == "etc" || strings.HasPrefix(n, ".") {
				continue
			}
			fmt.Fprintf(&b, "cp -a %s %s\n", q(filepath.Join(img.Root, n)), q(n))
		}
	}
	// A privileged container: the machine's devices, sysfs as seen from the pod's network namespace.
	b.WriteString("mount -t proc proc proc\nmount -t sysfs sysfs sys\n")
	msgPath := c.terminationPath()
	if img.Root == "" {
		// Debian-userland containers see the machine's devices through an overlay, so the termination
		// message file can be mounted at /dev/termination-log without touching the machine's /dev.
		b.WriteString(`mkdir -p .o/dev/u .o/dev/w
mount -t overlay sbx-dev -o lowerdir=/dev,upperdir=.o/dev/u,workdir=.o/dev/w dev
for m in pts shm mqueue; do if [ -d "/dev/$m" ]; then mount --rbind "/dev/$m" "dev/$m"; fi; done
`)
	} else {
		b.WriteString("mount --rbind /dev dev\n")
	}
	if img.Root == "" || !strings.HasPrefix(msgPath, "/dev/") {
		dst := "$R" + msgPath
		fmt.Fprintf(&b, "mkdir -p \"$(dirname \"%s\")\"; [ -e \"%s\" ] || : >\"%s\"\nmount --bind %s \"%s\"\n", dst, dst, dst, q(c.terminationFile()), dst)
	}
	for _, m := range c.spec.VolumeMounts {
		src, ok := c.w.volumes[m.Name]
		if !ok {
			return "", fmt.Errorf("volumeMount %s: no volume of that name", m.Name)
		}
		if m.SubPath != "" {
			src = filepath.Join(src, m.SubPath)
		}
		dst := "$R" + filepath.Clean("/"+m.MountPath)
		st, err := os.Stat(src)
		if err != nil {
			return "", fmt.Errorf("volumeMount %s: %v", m.Name, err)
		}
		if st.IsDir() {
			fmt.Fprintf(&b, "mkdir -p \"%s\"\n", dst)
		} else {
			fmt.Fprintf(&b, "mkdir -p \"$(dirname \"%s\")\"; [ -e \"%s\" ] || : >\"%s\"\n", dst, dst, dst)
		}
		fmt.Fprintf(&b, "mount --rbind %s \"%s\"\n", q(src), dst)
		if m.ReadOnly {
			fmt.Fprintf(&b, "mount -o remount,bind,ro \"%s\" 2>/dev/null || true\n", dst)
		}
	}
	wd := c.spec.WorkingDir
	if wd == "" {
		wd = "/"
	}
	fmt.Fprintf(&b, "cd /\nexec chroot \"$R\" /bin/sh -c 'cd \"$0\" && exec \"$@\"' %s", q(wd))
	for _, a := range argv {
		b.WriteString(" " + q(a))
	}
	b.WriteString("\n")
	path := filepath.Join(c.dir, "start.sh")
	return path, os.WriteFile(path, []byte(b.String()), 0o700)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// resolveArgv applies Kubernetes' command/args rules over the image's ENTRYPOINT/CMD, with $(VAR)
// expansion from the container's env.
func resolveArgv(spec corev1.Container, img *image, env []string) []string {
	var argv []string
	switch {
	case len(spec.Command) > 0:
		argv = append(append(argv, spec.Command...), spec.Args...)
	case len(spec.Args) > 0:
		argv = append(append(argv, img.Entrypoint...), spec.Args...)
	default:
		argv = append(append(argv, img.Entrypoint...), img.Cmd...)
	}
	vars := map[string]string{}
	for _, kv := range env {
		if i := strings.IndexByte(kv, '='); i > 0 {
			vars[kv[:i]] = kv[i+1:]
		}
	}
	for i, a := range argv {
		argv[i] = expand(a, vars)
	}
	return argv
}

func expand(s string, vars map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '$' && i+1 < len(s) && s[i+1] == '$' {
			b.WriteByte('$')
			i++
			continue
		}
		if s[i] == '$' && i+1 < len(s) && s[i+1] == '(' {
			if j := strings.IndexByte(s[i:], ')'); j > 0 {
				if v, ok := vars[s[i+2:i+j]]; ok {
					b.WriteString(v)
					i += j
					continue
				}
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func (c *container) runToCompletion() (int, error) {
	c.start()
	c.mu.Lock()
	exited, pause := c.exited, c.pause
	c.mu.Unlock()
	if pause {
		return 0, nil
	}
	<-exited
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.waiting != "" {
		return c.exitCode, fmt.Errorf("%s", c.waiting)
	}
	return c.exitCode, nil
}

func (c *container) state() (bool, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.running, c.exitCode
}

func (c *container) restartAfterBackoff() {
	c.mu.Lock()
	wait := c.backoff
	if c.backoff < 20*time.Second {
		c.backoff *= 2
	}
	c.restarts++
	c.mu.Unlock()
	log.Printf("%s: container %s exited (%d); restarting in %s", c.w.key(), c.spec.Name, c.exitCode, wait)
	time.Sleep(wait)
	if !c.w.terminating() {
		c.start()
	}
}

// nsInit finds PID 1 of the container's PID namespace (unshare's only child).
func (c *container) nsInit() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nsPid != 0 || c.cmd == nil || !c.running {
		return c.nsPid
	}
	pid := c.cmd.Process.Pid
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return 0
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		c.nsPid, _ = strconv.Atoi(f[0])
	}
	return c.nsPid
}

// execIn runs argv inside the running container (its mount, network and PID namespaces and root),
// with the container's env, as `kubectl exec` and exec probes do.
func (c *container) execIn(ctx context.Context, argv []string) ([]byte, error) {
	pid := c.nsInit()
	if pid == 0 {
		return nil, fmt.Errorf("container not running")
	}
	args := append([]string{"-t", strconv.Itoa(pid), "-m", "-n", "-p", "-r", "-w", "--"}, argv...)
	cmd := exec.CommandContext(ctx, "nsenter", args...)
	cmd.Env = c.env
	return bounded(cmd)
}

// bounded runs a command that its context may cut short: on expiry the whole process group dies (nsenter
// forks the command it enters), and Wait returns soon after even if an orphan still holds the output
// pipe. Without this a hung preStop hook or probe blocks the pod's worker for good.
func bounded(cmd *exec.Cmd) ([]byte, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	return cmd.CombinedOutput()
}

// runProbe runs one probe of the container and reports success.
func (c *container) runProbe(p *corev1.Probe) (bool, string) {
	timeout := time.Duration(p.TimeoutSeconds) * time.Second
	if timeout < time.Second {
		timeout = time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	switch {
	case p.Exec != nil:
		out, err := c.execIn(ctx, p.Exec.Command)
		return err == nil, strings.TrimSpace(string(out))
	case p.HTTPGet != nil:
		host := p.HTTPGet.Host
		if host == "" && len(c.w.podIPs) > 0 {
			host = c.w.podIPs[0]
		}
		port := c.port(p.HTTPGet.Port.String())
		scheme := strings.ToLower(string(p.HTTPGet.Scheme))
		if scheme == "" {
			scheme = "http"
		}
		url := fmt.Sprintf("%s://%s:%s%s", scheme, host, port, p.HTTPGet.Path)
		out, err := bounded(exec.CommandContext(ctx, "ip", "netns", "exec", c.w.netnsName, "curl", "-ksS", "-o", "/dev/null", "-f", url))
		return err == nil, strings.TrimSpace(string(out))
	case p.TCPSocket != nil:
		host := p.TCPSocket.Host
		if host == "" && len(c.w.podIPs) > 0 {
			host = c.w.podIPs[0]
		}
		_, err := bounded(exec.CommandContext(ctx, "ip", "netns", "exec", c.w.netnsName, "bash", "-c", "exec 3<>/dev/tcp/"+host+"/"+c.port(p.TCPSocket.Port.String())))
		return err == nil, ""
	}
	return true, ""
}

func (c *container) port(p string) string {
	for _, cp := range c.spec.Ports {
		if cp.Name == p {
			return strconv.Itoa(int(cp.ContainerPort))
		}
	}
	return p
}

// probe runs the readiness and liveness probes that are due. A container without a readiness probe
// is ready while it runs, as on a kubelet.
func (c *container) probe() {
	running, _ := c.state()
	if !running {
		c.mu.Lock()
		c.ready = false
		c.mu.Unlock()
		return
	}
	now := time.Now()
	period := func(p *corev1.Probe) time.Duration {
		d := time.Duration(p.PeriodSeconds) * time.Second
		if d <= 0 || d > c.w.k.cfg.probeEvery {
			d = c.w.k.cfg.probeEvery
		}
		return d
	}
	if rp := c.spec.ReadinessProbe; rp == nil || c.pause {
		c.mu.Lock()
		c.ready = true
		c.mu.Unlock()
	} else if now.After(c.nextProbe) {
		ok, msg := c.runProbe(rp)
		c.mu.Lock()
		c.nextProbe = now.Add(period(rp))
		if ok {
			c.readyOK++
			c.readyBad = 0
			if c.readyOK >= max(int(rp.SuccessThreshold), 1) {
				c.ready = true
			}
		} else {
			c.readyBad++
			c.readyOK = 0
			if c.readyBad >= max(int(rp.FailureThreshold), 1) || !c.everReady {
				if c.ready {
					log.Printf("%s: container %s not ready: %s", c.w.key(), c.spec.Name, msg)
				}
				c.ready = false
			}
			c.waiting = ""
		}
		if c.ready && !c.everReady {
			c.everReady = true
			log.Printf("%s: container %s ready", c.w.key(), c.spec.Name)
		}
		c.mu.Unlock()
	}
	if lp := c.spec.LivenessProbe; lp != nil && !c.pause && now.After(c.nextLive) {
		ok, msg := c.runProbe(lp)
		c.mu.Lock()
		c.nextLive = now.Add(period(lp))
		if ok {
			c.liveBad = 0
		} else {
			c.liveBad++
		}
		kill := c.liveBad >= max(int(lp.FailureThreshold), 1)
		c.mu.Unlock()
		if kill {
			log.Printf("%s: container %s failed its liveness probe (%s); restarting", c.w.key(), c.spec.Name, msg)
			c.terminate(time.Now().Add(2 * time.Second))
		}
	}
}

// terminate runs the preStop hook, sends TERM to the container's PID 1 and KILL at the deadline.
func (c *container) terminate(deadline time.Time) {
	running, _ := c.state()
	if !running {
		return
	}
	c.mu.Lock()
	if c.pause {
		c.running = false
		c.mu.Unlock()
		return
	}
	exited := c.exited
	c.mu.Unlock()
	if h := c.spec.Lifecycle; h != nil && h.PreStop != nil && h.PreStop.Exec != nil {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		out, err := c.execIn(ctx, h.PreStop.Exec.Command)
		cancel()
		if err != nil {
			log.Printf("%s: container %s preStop: %v %s", c.w.key(), c.spec.Name, err, out)
		}
	}
	// As a kubelet does when the hook used up the grace period: two more seconds for TERM.
	if min := time.Now().Add(2 * time.Second); deadline.Before(min) {
		deadline = min
	}
	if pid := c.nsInit(); pid != 0 {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	select {
	case <-exited:
	case <-time.After(time.Until(deadline)):
		c.mu.Lock()
		cmd := c.cmd
		c.mu.Unlock()
		if cmd != nil {
			killNamespace(cmd.Process.Pid)
		}
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			log.Printf("%s: container %s did not exit after KILL", c.w.key(), c.spec.Name)
		}
	}
}

func (c *container) status() corev1.ContainerStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	cs := corev1.ContainerStatus{
		Name: c.spec.Name, Image: c.spec.Image, ImageID: "sbx://" + c.spec.Image, Ready: c.ready && c.running,
		RestartCount: int32(c.restarts), ContainerID: "sbx://" + c.w.rec.UID + "/" + c.spec.Name,
	}
	started := c.running
	cs.Started = &started
	switch {
	case c.running:
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(c.startedAt)}
	case c.waiting != "":
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "CreateContainerError", Message: c.waiting}
	case c.exited != nil:
		reason := "Completed"
		if c.exitCode != 0 {
			reason = "Error"
		}
		cs.State.Terminated = &corev1.ContainerStateTerminated{
			ExitCode: int32(c.exitCode), Reason: reason, Message: c.terminationMessage(),
			StartedAt: metav1.NewTime(c.startedAt), FinishedAt: metav1.NewTime(c.endedAt),
		}
	default:
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "PodInitializing"}
	}
	return cs
}

// killNamespace kills a container's process (`ip netns exec … unshare`) and its PID namespace.
func killNamespace(pid int) {
	// A recorded pid from an earlier run may have been reused: only kill what this kubelet started.
	cl, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !(strings.Contains(string(cl), "unshare") || strings.Contains(string(cl), "socat")) {
		return
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid)); err == nil {
		for _, f := range strings.Fields(string(b)) {
			if child, err := strconv.Atoi(f); err == nil {
				_ = syscall.Kill(child, syscall.SIGKILL)
			}
		}
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// terminationPath is where the container writes its termination message (Kubernetes' default /dev/termination-log).
func (c *container) terminationPath() string {
	if c.spec.TerminationMessagePath != "" {
		return filepath.Clean("/" + c.spec.TerminationMessagePath)
	}
	return "/dev/termination-log"
}

func (c *container) terminationFile() string { return filepath.Join(c.dir, "termination-log") }

// terminationMessage is what a kubelet puts in the terminated state: the file, at most 4096 bytes, or
// with FallbackToLogsOnError and a failed, silent container the tail of its log (80 lines, 2048 bytes).
func (c *container) terminationMessage() string {
	b, _ := os.ReadFile(c.terminationFile())
	if len(b) > 4096 {
		b = b[:4096]
	}
	if len(b) > 0 || c.exitCode == 0 || c.spec.TerminationMessagePolicy != corev1.TerminationMessageFallbackToLogsOnError {
		return string(b)
	}
	logs, _ := os.ReadFile(c.logPath)
	lines := strings.Split(strings.TrimRight(string(logs), "\n"), "\n")
	if len(lines) > 80 {
		lines = lines[len(lines)-80:]
	}
	tail := strings.Join(lines, "\n")
	if len(tail) > 2048 {
		tail = tail[len(tail)-2048:]
	}
	return tail
}
