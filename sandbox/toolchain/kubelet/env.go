package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// containerEnv builds the environment as a kubelet does: the image's ENV, then what the kubelet
// adds (HOSTNAME, the API server's Service variables), then envFrom, then env in order, with
// $(VAR) references to earlier variables expanded.
func (w *podWorker) containerEnv(c corev1.Container, img *image) ([]string, error) {
	p, _ := w.latest()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var order []string
	vals := map[string]string{}
	set := func(k, v string) {
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = v
	}
	set("PATH", strings.TrimPrefix(defaultPath, "PATH="))
	for _, kv := range img.Env {
		if i := strings.IndexByte(kv, '='); i > 0 {
			set(kv[:i], kv[i+1:])
		}
	}
	hostname := p.Name
	if p.Spec.HostNetwork {
		hostname = w.k.cfg.node
	}
	set("HOSTNAME", hostname)
	// No kube-proxy in the sandbox: the API server's Service variables name the address at which
	// every node and pod namespace reaches it (see --api-host).
	h, port := w.k.cfg.apiHost, w.k.cfg.apiPort
	set("KUBERNETES_SERVICE_HOST", h)
	set("KUBERNETES_SERVICE_PORT", port)
	set("KUBERNETES_SERVICE_PORT_HTTPS", port)
	set("KUBERNETES_PORT", "tcp://"+h+":"+port)
	set("KUBERNETES_PORT_443_TCP", "tcp://"+h+":"+port)
	set("KUBERNETES_PORT_443_TCP_PROTO", "tcp")
	set("KUBERNETES_PORT_443_TCP_ADDR", h)
	set("KUBERNETES_PORT_443_TCP_PORT", port)

	for _, ef := range c.EnvFrom {
		data := map[string]string{}
		switch {
		case ef.ConfigMapRef != nil:
			cm, err := w.k.client.CoreV1().ConfigMaps(p.Namespace).Get(ctx, ef.ConfigMapRef.Name, metav1.GetOptions{})
			if err != nil {
				if ef.ConfigMapRef.Optional != nil && *ef.ConfigMapRef.Optional {
					continue
				}
				return nil, fmt.Errorf("envFrom configmap %s: %w", ef.ConfigMapRef.Name, err)
			}
			data = cm.Data
		case ef.SecretRef != nil:
			s, err := w.k.client.CoreV1().Secrets(p.Namespace).Get(ctx, ef.SecretRef.Name, metav1.GetOptions{})
			if err != nil {
				if ef.SecretRef.Optional != nil && *ef.SecretRef.Optional {
					continue
				}
				return nil, fmt.Errorf("envFrom secret %s: %w", ef.SecretRef.Name, err)
			}
			for k, b := range s.Data {
				data[k] = string(b)
			}
		}
		for k, v := range data {
			set(ef.Prefix+k, v)
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, expand(e.Value, vals))
			continue
		}
		v, skip, err := w.valueFrom(ctx, p, e.ValueFrom)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		if !skip {
			set(e.Name, v)
		}
	}
	env := make([]string, 0, len(order))
	for _, k := range order {
		env = append(env, k+"="+vals[k])
	}
	return env, nil
}

func (w *podWorker) valueFrom(ctx context.Context, p *corev1.Pod, vf *corev1.EnvVarSource) (string, bool, error) {
	switch {
	case vf.FieldRef != nil:
		v, err := fieldValue(p, vf.FieldRef.FieldPath, w)
		return v, false, err
	case vf.ConfigMapKeyRef != nil:
		r := vf.ConfigMapKeyRef
		optional := r.Optional != nil && *r.Optional
		cm, err := w.k.client.CoreV1().ConfigMaps(p.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
		if err != nil {
			return "", optional, ifNot(optional, fmt.Errorf("configmap %s: %w", r.Name, err))
		}
		v, ok := cm.Data[r.Key]
		if !ok {
			return "", optional, ifNot(optional, fmt.Errorf("configmap %s has no key %s", r.Name, r.Key))
		}
		return v, false, nil
	case vf.SecretKeyRef != nil:
		r := vf.SecretKeyRef
		optional := r.Optional != nil && *r.Optional
		s, err := w.k.client.CoreV1().Secrets(p.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
		if err != nil {
			return "", optional, ifNot(optional, fmt.Errorf("secret %s: %w", r.Name, err))
		}
		b, ok := s.Data[r.Key]
		if !ok {
			return "", optional, ifNot(optional, fmt.Errorf("secret %s has no key %s", r.Name, r.Key))
		}
		return string(b), false, nil
	}
	return "", false, fmt.Errorf("this valueFrom is not supported by the sandbox kubelet")
}

func ifNot(optional bool, err error) error {
	if optional {
		return nil
	}
	return err
}

func fieldValue(p *corev1.Pod, path string, w *podWorker) (string, error) {
	switch path {
	case "metadata.name":
		return p.Name, nil
	case "metadata.namespace":
		return p.Namespace, nil
	case "metadata.uid":
		return string(p.UID), nil
	case "spec.nodeName":
		return p.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return p.Spec.ServiceAccountName, nil
	case "status.hostIP":
		return w.k.cfg.nodeIP, nil
	case "status.podIP":
		if len(w.podIPs) > 0 {
			return w.podIPs[0], nil
		}
		return "", nil
	case "status.podIPs":
		return strings.Join(w.podIPs, ","), nil
	}
	for _, pre := range []struct {
		prefix string
		m      map[string]string
	}{{"metadata.labels['", p.Labels}, {"metadata.annotations['", p.Annotations}} {
		if strings.HasPrefix(path, pre.prefix) && strings.HasSuffix(path, "']") {
			return pre.m[strings.TrimSuffix(strings.TrimPrefix(path, pre.prefix), "']")], nil
		}
	}
	return "", fmt.Errorf("fieldRef %s is not supported by the sandbox kubelet", path)
}
