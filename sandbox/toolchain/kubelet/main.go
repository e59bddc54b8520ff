// sbx-kubelet is the sandbox's kubelet stand-in for one node (see sandbox/README.md, "Real Calico").
//
// There is no container runtime on this machine, so it runs the pods that the API server schedules
// to its node as plain processes:
//   - hostNetwork pods in the node's network namespace, other pods in a namespace of their own that
//     the node's CNI plugins (binaries, conflist and kubeconfig in the node's tree) set up with a
//     real CNI ADD, and tear down with DEL;
//   - each container in its own mount and PID namespace, chrooted into a root made of the image's
//     files (built from the Calico source by build-toolchain.sh) over Debian's /usr and /etc, with
//     the pod's volumes bind-mounted where the pod spec says: hostPath from the node's tree,
//     ConfigMap, Secret and service-account token files from the API server;
//   - env as the pod spec says (value, fieldRef, configMapKeyRef, secretKeyRef, envFrom), plus what
//     a kubelet adds (KUBERNETES_SERVICE_HOST/PORT, HOSTNAME);
//   - readiness by the pod's own probes; pod status written back like a kubelet does.
//
// One process per node; pods are polled every second (a few nodes, a few pods each).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

type config struct {
	node       string // Node object name
	tree       string // the node's host filesystem ($S/nodes/<node>)
	netns      string // the node's network namespace (ip netns name)
	nodeIP     string
	state      string // scratch: pod volumes, container roots, logs
	images     string // image roots, one folder per calico/* image
	apiHost    string // what pods get as KUBERNETES_SERVICE_HOST/PORT (no kube-proxy here)
	apiPort    string
	apiSocket  string // unix socket that reaches the API server; relayed to apiHost:apiPort in pod netns
	probeEvery time.Duration
}

type kubelet struct {
	cfg    config
	client kubernetes.Interface
	mu     sync.Mutex
	pods   map[types.UID]*podWorker
}

func main() {
	var cfg config
	var kubeconfig string
	flag.StringVar(&cfg.node, "node", "", "node name")
	flag.StringVar(&cfg.tree, "tree", "", "the node's host tree")
	flag.StringVar(&cfg.netns, "netns", "", "the node's network namespace")
	flag.StringVar(&cfg.nodeIP, "node-ip", "", "the node's address")
	flag.StringVar(&cfg.state, "state", "", "state directory")
	flag.StringVar(&cfg.images, "images", "", "image roots")
	flag.StringVar(&cfg.apiHost, "api-host", "127.0.0.1", "KUBERNETES_SERVICE_HOST for pods")
	flag.StringVar(&cfg.apiPort, "api-port", "6443", "KUBERNETES_SERVICE_PORT for pods")
	flag.StringVar(&cfg.apiSocket, "api-socket", "", "unix socket relaying to the API server")
	flag.DurationVar(&cfg.probeEvery, "probe-every", 2*time.Second, "probe period cap")
	flag.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the kubelet stand-in")
	flag.Parse()
	for name, v := range map[string]string{"node": cfg.node, "tree": cfg.tree, "netns": cfg.netns, "node-ip": cfg.nodeIP, "state": cfg.state, "images": cfg.images, "kubeconfig": kubeconfig} {
		if v == "" {
			log.Fatalf("--%s is required", name)
		}
	}
	log.SetPrefix(cfg.node + " ")
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		log.Fatal(err)
	}
	rc.QPS, rc.Burst = 50, 100
	k := &kubelet{cfg: cfg, client: kubernetes.NewForConfigOrDie(rc), pods: map[types.UID]*podWorker{}}
	if err := os.MkdirAll(filepath.Join(cfg.state, "pods"), 0o700); err != nil {
		log.Fatal(err)
	}
	k.cleanupLeftovers()

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	for {
		k.sync(ctx)
		select {
		case <-ctx.Done():
			k.stopAll()
			return
		case <-time.After(time.Second):
		}
	}
}

// sync starts workers for new pods, passes every pod's latest object to its worker, and stops the
// workers of pods that are gone from the API server.
func (k *kubelet) sync(ctx context.Context) {
	list, err := k.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + k.cfg.node})
	if err != nil {
		log.Printf("list pods: %v", err)
		return
	}
	seen := map[types.UID]bool{}
	k.mu.Lock()
	defer k.mu.Unlock()
	for i := range list.Items {
		p := list.Items[i].DeepCopy()
		seen[p.UID] = true
		w, ok := k.pods[p.UID]
		if !ok {
			if p.DeletionTimestamp != nil {
				// Never started here (or started by an earlier run, already cleaned up): confirm the deletion.
				go k.confirmDeletion(p)
				continue
			}
			if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				continue
			}
			w = newPodWorker(k, p)
			k.pods[p.UID] = w
			go w.run()
		}
		w.update(p)
	}
	for uid, w := range k.pods {
		if !seen[uid] {
			w.update(nil)
		}
	}
}

func (k *kubelet) forget(uid types.UID) {
	k.mu.Lock()
	delete(k.pods, uid)
	k.mu.Unlock()
}

func (k *kubelet) stopAll() {
	k.mu.Lock()
	ws := make([]*podWorker, 0, len(k.pods))
	for _, w := range k.pods {
		ws = append(ws, w)
	}
	k.mu.Unlock()
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		go func(w *podWorker) { defer wg.Done(); w.update(nil); <-w.done }(w)
	}
	wg.Wait()
}

func (k *kubelet) confirmDeletion(p *corev1.Pod) {
	uid := p.UID
	zero := int64(0)
	err := k.client.CoreV1().Pods(p.Namespace).Delete(context.Background(), p.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid},
	})
	if err != nil {
		log.Printf("confirm deletion of %s/%s: %v", p.Namespace, p.Name, err)
	}
}

// cleanupLeftovers tears down what an earlier run of this node's kubelet left (its pods' processes,
// network namespaces and CNI attachments), so every pod starts again from its spec.
func (k *kubelet) cleanupLeftovers() {
	dirs, _ := filepath.Glob(filepath.Join(k.cfg.state, "pods", "*"))
	for _, d := range dirs {
		w := &podWorker{k: k, dir: d}
		if err := w.loadRecord(); err != nil {
			log.Printf("leftover %s: %v", d, err)
		}
		w.teardown()
	}
	fmt.Fprint(os.Stderr, "")
}
