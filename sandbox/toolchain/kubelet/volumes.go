package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Kernel filesystems: a hostPath there is this machine's own (sysfs as seen from the node's network
// namespace); every other hostPath, /lib/modules included, is a path in the node's tree.
var kernelPaths = []string{"/proc", "/sys", "/dev"}

func (w *podWorker) hostPath(path string) string {
	clean := filepath.Clean("/" + path)
	for _, k := range kernelPaths {
		if clean == k || strings.HasPrefix(clean, k+"/") {
			return clean
		}
	}
	return filepath.Join(w.k.cfg.tree, clean)
}

// setupVolumes materialises every volume of the pod under its state directory (or names the node
// path for hostPath volumes), plus the service-account token volume a kubelet adds.
func (w *podWorker) setupVolumes() error {
	p, _ := w.latest()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	vols := map[string]string{}
	for _, v := range p.Spec.Volumes {
		dir := filepath.Join(w.dir, "volumes", v.Name)
		switch {
		case v.HostPath != nil:
			src := w.hostPath(v.HostPath.Path)
			if err := checkHostPath(src, v.HostPath.Type); err != nil {
				return fmt.Errorf("volume %s: %w", v.Name, err)
			}
			vols[v.Name] = src
		case v.EmptyDir != nil:
			if err := os.MkdirAll(dir, 0o777); err != nil {
				return err
			}
			vols[v.Name] = dir
		case v.ConfigMap != nil:
			cm, err := w.k.client.CoreV1().ConfigMaps(p.Namespace).Get(ctx, v.ConfigMap.Name, metav1.GetOptions{})
			if err != nil {
				if v.ConfigMap.Optional != nil && *v.ConfigMap.Optional {
					cm = &corev1.ConfigMap{}
				} else {
					return fmt.Errorf("volume %s: configmap %s: %w", v.Name, v.ConfigMap.Name, err)
				}
			}
			data := map[string][]byte{}
			for k, s := range cm.Data {
				data[k] = []byte(s)
			}
			for k, b := range cm.BinaryData {
				data[k] = b
			}
			if err := writeKeys(dir, data, v.ConfigMap.Items, v.ConfigMap.DefaultMode); err != nil {
				return err
			}
			vols[v.Name] = dir
		case v.Secret != nil:
			s, err := w.k.client.CoreV1().Secrets(p.Namespace).Get(ctx, v.Secret.SecretName, metav1.GetOptions{})
			if err != nil {
				if v.Secret.Optional != nil && *v.Secret.Optional {
					s = &corev1.Secret{}
				} else {
					return fmt.Errorf("volume %s: secret %s: %w", v.Name, v.Secret.SecretName, err)
				}
			}
			if err := writeKeys(dir, s.Data, v.Secret.Items, v.Secret.DefaultMode); err != nil {
				return err
			}
			vols[v.Name] = dir
		case v.Projected != nil:
			if err := w.projected(ctx, p, dir, v.Projected); err != nil {
				return fmt.Errorf("volume %s: %w", v.Name, err)
			}
			vols[v.Name] = dir
		default:
			return fmt.Errorf("volume %s: this volume type is not supported by the sandbox kubelet", v.Name)
		}
	}
	// The service-account admission plugin adds a projected kube-api-access volume to pods that
	// automount their token; nothing else to add here.
	w.volumes = vols
	return nil
}

func checkHostPath(src string, t *corev1.HostPathType) error {
	kind := corev1.HostPathUnset
	if t != nil {
		kind = *t
	}
	st, err := os.Stat(src)
	switch kind {
	case corev1.HostPathDirectoryOrCreate:
		if err != nil {
			return os.MkdirAll(src, 0o755)
		}
	case corev1.HostPathFileOrCreate:
		if err != nil {
			if err := os.MkdirAll(filepath.Dir(src), 0o755); err != nil {
				return err
			}
			return os.WriteFile(src, nil, 0o644)
		}
	case corev1.HostPathDirectory:
		if err != nil || !st.IsDir() {
			return fmt.Errorf("hostPath type check failed: %s is not a directory", src)
		}
	case corev1.HostPathFile:
		if err != nil || st.IsDir() {
			return fmt.Errorf("hostPath type check failed: %s is not a file", src)
		}
	case corev1.HostPathUnset:
		// As on a kubelet: an unset type mounts whatever is there, creating nothing; a missing path is
		// created as a directory by the bind mount setup.
		if err != nil {
			return os.MkdirAll(src, 0o755)
		}
	}
	return nil
}

func writeKeys(dir string, data map[string][]byte, items []corev1.KeyToPath, defaultMode *int32) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	mode := os.FileMode(0o644)
	if defaultMode != nil {
		mode = os.FileMode(*defaultMode)
	}
	write := func(path string, b []byte, m os.FileMode) error {
		full := filepath.Join(dir, path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, b, m); err != nil {
			return err
		}
		return os.Chmod(full, m)
	}
	if len(items) == 0 {
		for k, b := range data {
			if err := write(k, b, mode); err != nil {
				return err
			}
		}
		return nil
	}
	for _, it := range items {
		b, ok := data[it.Key]
		if !ok {
			return fmt.Errorf("key %s not found", it.Key)
		}
		m := mode
		if it.Mode != nil {
			m = os.FileMode(*it.Mode)
		}
		if err := write(it.Path, b, m); err != nil {
			return err
		}
	}
	return nil
}

// projected writes a projected volume: service-account tokens (TokenRequest bound to this pod, as a
// kubelet asks for them), ConfigMaps, Secrets and the downward API namespace.
func (w *podWorker) projected(ctx context.Context, p *corev1.Pod, dir string, v *corev1.ProjectedVolumeSource) error {
	for _, s := range v.Sources {
		switch {
		case s.ServiceAccountToken != nil:
			exp := int64(3600)
			if s.ServiceAccountToken.ExpirationSeconds != nil {
				exp = *s.ServiceAccountToken.ExpirationSeconds
			}
			tr := &authv1.TokenRequest{Spec: authv1.TokenRequestSpec{
				ExpirationSeconds: &exp,
				BoundObjectRef:    &authv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: p.Name, UID: p.UID},
			}}
			if s.ServiceAccountToken.Audience != "" {
				tr.Spec.Audiences = []string{s.ServiceAccountToken.Audience}
			}
			sa := p.Spec.ServiceAccountName
			if sa == "" {
				sa = "default"
			}
			res, err := w.k.client.CoreV1().ServiceAccounts(p.Namespace).CreateToken(ctx, sa, tr, metav1.CreateOptions{})
			if err != nil {
				return fmt.Errorf("token for %s: %w", sa, err)
			}
			if err := writeKeys(dir, map[string][]byte{"t": []byte(res.Status.Token)}, []corev1.KeyToPath{{Key: "t", Path: s.ServiceAccountToken.Path}}, v.DefaultMode); err != nil {
				return err
			}
		case s.ConfigMap != nil:
			cm, err := w.k.client.CoreV1().ConfigMaps(p.Namespace).Get(ctx, s.ConfigMap.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			data := map[string][]byte{}
			for k, s := range cm.Data {
				data[k] = []byte(s)
			}
			if err := writeKeys(dir, data, s.ConfigMap.Items, v.DefaultMode); err != nil {
				return err
			}
		case s.Secret != nil:
			sec, err := w.k.client.CoreV1().Secrets(p.Namespace).Get(ctx, s.Secret.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if err := writeKeys(dir, sec.Data, s.Secret.Items, v.DefaultMode); err != nil {
				return err
			}
		case s.DownwardAPI != nil:
			for _, it := range s.DownwardAPI.Items {
				if it.FieldRef == nil {
					continue
				}
				val, err := fieldValue(p, it.FieldRef.FieldPath, w)
				if err != nil {
					return err
				}
				if err := writeKeys(dir, map[string][]byte{"v": []byte(val)}, []corev1.KeyToPath{{Key: "v", Path: it.Path}}, v.DefaultMode); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
