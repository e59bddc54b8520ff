package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// record is what a pod worker writes down before it creates anything on the node, so that a later
// run can tear it down (cleanupLeftovers).
type record struct {
	Namespace   string `json:"namespace"`
	Name        string `json:"name"`
	UID         string `json:"uid"`
	Netns       string `json:"netns,omitempty"` // the pod's own network namespace; empty with hostNetwork
	ContainerID string `json:"containerID,omitempty"`
	CNIAdded    bool   `json:"cniAdded,omitempty"`
	Pids        []int  `json:"pids,omitempty"`
}

type podWorker struct {
	k       *kubelet
	dir     string
	mu      sync.Mutex
	pod     *corev1.Pod // latest object from the API server; nil once it is gone
	gone    bool
	changed chan struct{}
	done    chan struct{}

	rec        record
	podIPs     []string
	netnsName  string
	volumes    map[string]string // volume name -> source path on this machine
	containers []*container
	initDone   bool
	phase      corev1.PodPhase
	message    string
	lastStatus string
}

func newPodWorker(k *kubelet, p *corev1.Pod) *podWorker {
	return &podWorker{
		k: k, dir: filepath.Join(k.cfg.state, "pods", string(p.UID)), pod: p,
		changed: make(chan struct{}, 1), done: make(chan struct{}),
		rec: record{Namespace: p.Namespace, Name: p.Name, UID: string(p.UID)},
	}
}

func (w *podWorker) update(p *corev1.Pod) {
	w.mu.Lock()
	if p == nil {
		w.gone = true
	} else {
		w.pod = p
	}
	w.mu.Unlock()
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

func (w *podWorker) latest() (*corev1.Pod, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pod, w.gone
}

// terminating: the pod was deleted (gracefully or not) and this worker must stop it.
func (w *podWorker) terminating() bool {
	p, gone := w.latest()
	return gone || p.DeletionTimestamp != nil
}

func (w *podWorker) key() string { return w.rec.Namespace + "/" + w.rec.Name }

func (w *podWorker) saveRecord() {
	b, _ := json.Marshal(w.rec)
	_ = os.WriteFile(filepath.Join(w.dir, "record.json"), b, 0o600)
}

func (w *podWorker) loadRecord() error {
	b, err := os.ReadFile(filepath.Join(w.dir, "record.json"))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, &w.rec)
}

func (w *podWorker) run() {
	defer close(w.done)
	defer w.k.forget(types.UID(w.rec.UID))
	if err := os.MkdirAll(w.dir, 0o700); err != nil {
		log.Printf("%s: %v", w.key(), err)
		return
	}
	w.saveRecord()
	w.phase = corev1.PodPending
	ok := w.retry("volumes", w.setupVolumes) && w.retry("network", w.setupNetwork) && w.runInitContainers()
	if ok {
		w.initDone = true
		w.startContainers()
		w.superviseLoop()
	}
	w.stop()
}

// retry runs step until it succeeds or the pod is deleted, reporting the error in the pod status.
func (w *podWorker) retry(what string, step func() error) bool {
	backoff := time.Second
	for !w.terminating() {
		err := step()
		if err == nil {
			return true
		}
		w.message = fmt.Sprintf("%s: %v", what, err)
		log.Printf("%s: %s (retrying in %s)", w.key(), w.message, backoff)
		w.writeStatus()
		w.sleep(backoff)
		if backoff < 10*time.Second {
			backoff *= 2
		}
	}
	return false
}

// sleep waits d, or less when the pod changes.
func (w *podWorker) sleep(d time.Duration) {
	select {
	case <-w.changed:
	case <-time.After(d):
	}
}

func (w *podWorker) spec() corev1.PodSpec {
	p, _ := w.latest()
	return p.Spec
}

func (w *podWorker) runInitContainers() bool {
	spec := w.spec()
	for i := range spec.InitContainers {
		c := newContainer(w, spec.InitContainers[i], true)
		w.containers = append(w.containers, c)
		backoff := time.Second
		for {
			if w.terminating() {
				return false
			}
			code, err := c.runToCompletion()
			if err == nil && code == 0 {
				break
			}
			w.message = fmt.Sprintf("init container %s: exit %d %v (log %s)", c.spec.Name, code, err, c.logPath)
			log.Printf("%s: %s", w.key(), w.message)
			w.writeStatus()
			if spec.RestartPolicy == corev1.RestartPolicyNever {
				w.phase = corev1.PodFailed
				w.writeStatus()
				return false
			}
			w.sleep(backoff)
			if backoff < 10*time.Second {
				backoff *= 2
			}
		}
	}
	w.message = ""
	return true
}

func (w *podWorker) startContainers() {
	spec := w.spec()
	for i := range spec.Containers {
		c := newContainer(w, spec.Containers[i], false)
		w.containers = append(w.containers, c)
		c.start()
	}
	w.phase = corev1.PodRunning
	w.writeStatus()
}

// superviseLoop restarts exited containers (by restartPolicy), runs probes, and writes the status
// whenever it changes, until the pod is deleted or has completed.
func (w *podWorker) superviseLoop() {
	restartPolicy := w.spec().RestartPolicy
	for !w.terminating() {
		allDone, anyFailed := true, false
		for _, c := range w.containers {
			if c.init {
				continue
			}
			c.probe()
			running, code := c.state()
			if running {
				allDone = false
				continue
			}
			if restartPolicy == corev1.RestartPolicyAlways || (restartPolicy == corev1.RestartPolicyOnFailure && code != 0) {
				allDone = false
				c.restartAfterBackoff()
			} else if code != 0 {
				anyFailed = true
			}
		}
		if allDone {
			w.phase = corev1.PodSucceeded
			if anyFailed {
				w.phase = corev1.PodFailed
			}
			w.writeStatus()
			return
		}
		w.writeStatus()
		w.sleep(w.k.cfg.probeEvery / 2)
	}
}

// stop runs preStop hooks, stops every container (TERM, then KILL after the grace period), removes
// the pod's network, and confirms the deletion to the API server.
func (w *podWorker) stop() {
	p, gone := w.latest()
	grace := int64(30)
	if p.Spec.TerminationGracePeriodSeconds != nil {
		grace = *p.Spec.TerminationGracePeriodSeconds
	}
	if p.DeletionGracePeriodSeconds != nil {
		grace = *p.DeletionGracePeriodSeconds
	}
	// As the kubelet does: a grace period under 2 s is raised to 2 s so hooks and TERM get a chance.
	if grace < 2 {
		grace = 2
	}
	if grace > 30 {
		grace = 30
	}
	deadline := time.Now().Add(time.Duration(grace) * time.Second)
	var wg sync.WaitGroup
	for _, c := range w.containers {
		wg.Add(1)
		go func(c *container) { defer wg.Done(); c.terminate(deadline) }(c)
	}
	wg.Wait()
	w.teardown()
	if !gone && p.DeletionTimestamp != nil {
		w.k.confirmDeletion(p)
	}
	log.Printf("%s: stopped", w.key())
}

// teardown removes what the pod left on the node: processes (by recorded pid), CNI attachment,
// network namespace, state directory. Safe to run on a record from an earlier run.
func (w *podWorker) teardown() {
	for _, pid := range w.rec.Pids {
		killNamespace(pid)
	}
	if w.rec.Netns != "" {
		if w.rec.CNIAdded {
			if err := w.cniDel(); err != nil {
				log.Printf("%s: CNI DEL: %v", w.key(), err)
			}
		}
		if out, err := exec.Command("ip", "netns", "delete", w.rec.Netns).CombinedOutput(); err != nil && !strings.Contains(string(out), "No such file") {
			log.Printf("%s: ip netns delete %s: %v %s", w.key(), w.rec.Netns, err, out)
		}
	}
	_ = os.RemoveAll(w.dir)
}

func (w *podWorker) writeStatus() {
	p, gone := w.latest()
	if gone {
		return
	}
	st := w.status(p)
	b, _ := json.Marshal(st)
	if string(b) == w.lastStatus {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for attempt := 0; attempt < 5; attempt++ {
		cur, err := w.k.client.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		if err != nil {
			return
		}
		if cur.UID != p.UID {
			return
		}
		cur.Status = mergeStatus(cur.Status, st)
		if _, err = w.k.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err == nil {
			w.lastStatus = string(b)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}
