package main

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// status is the pod status as this worker sees it, in the shape a kubelet writes.
func (w *podWorker) status(p *corev1.Pod) corev1.PodStatus {
	st := corev1.PodStatus{Phase: w.phase, HostIP: w.k.cfg.nodeIP, HostIPs: []corev1.HostIP{{IP: w.k.cfg.nodeIP}}, Message: w.message}
	if w.message != "" {
		st.Reason = "SandboxKubelet"
	}
	for _, ip := range w.podIPs {
		if st.PodIP == "" {
			st.PodIP = ip
		}
		st.PodIPs = append(st.PodIPs, corev1.PodIP{IP: ip})
	}
	allReady := w.initDone && len(w.podIPs) > 0
	seenMain := 0
	for _, c := range w.containers {
		cs := c.status()
		if c.init {
			st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
			continue
		}
		seenMain++
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
		if !cs.Ready {
			allReady = false
		}
	}
	if seenMain < len(p.Spec.Containers) {
		allReady = false
	}
	if w.phase == corev1.PodSucceeded || w.phase == corev1.PodFailed {
		allReady = false
	}
	cond := func(t corev1.PodConditionType, ok bool) corev1.PodCondition {
		s := corev1.ConditionFalse
		if ok {
			s = corev1.ConditionTrue
		}
		return corev1.PodCondition{Type: t, Status: s}
	}
	st.Conditions = []corev1.PodCondition{
		cond(corev1.PodReadyToStartContainers, len(w.podIPs) > 0),
		cond(corev1.PodInitialized, w.initDone),
		cond(corev1.ContainersReady, allReady),
		cond(corev1.PodReady, allReady),
	}
	return st
}

// mergeStatus keeps what the API server and scheduler own (PodScheduled, start time, transition
// times of unchanged conditions) and takes the rest from the worker.
func mergeStatus(cur, next corev1.PodStatus) corev1.PodStatus {
	now := metav1.NewTime(time.Now())
	old := map[corev1.PodConditionType]corev1.PodCondition{}
	for _, c := range cur.Conditions {
		old[c.Type] = c
	}
	var conds []corev1.PodCondition
	if c, ok := old[corev1.PodScheduled]; ok {
		conds = append(conds, c)
	}
	for _, c := range next.Conditions {
		c.LastTransitionTime = now
		if o, ok := old[c.Type]; ok && o.Status == c.Status {
			c.LastTransitionTime = o.LastTransitionTime
		}
		conds = append(conds, c)
	}
	next.Conditions = conds
	next.StartTime = cur.StartTime
	if next.StartTime == nil {
		next.StartTime = &now
	}
	next.QOSClass = cur.QOSClass
	return next
}
