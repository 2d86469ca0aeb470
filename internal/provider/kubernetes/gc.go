package kubernetes

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SweepOrphans deletes the pods, SandboxClaims and NetworkPolicies of this installation
// (labelled app.kubernetes.io/managed-by=hangar and hangar.dev/installation=<Installation>)
// whose session is not live (live reports it from the store: it exists and is not
// terminated), in the provider's namespace, and returns what it deleted as "kind/name".
// cmd/hangar runs it at server start: a crashed instance, or a session deleted while its
// sandbox could not be reached, leaves such objects behind. Without an installation ID it
// deletes nothing: objects of another Hangar sharing the namespace look the same.
func (p *Provider) SweepOrphans(ctx context.Context, live func(sessionID string) (bool, error)) ([]string, error) {
	if p.installation == "" {
		return nil, nil
	}
	sel := metav1.ListOptions{LabelSelector: labelManagedBy + "=hangar," + labelInstallation + "=" + p.installation}
	orphan := func(annotations map[string]string) (bool, error) {
		id := annotations[annotSession]
		if id == "" {
			return false, nil // not one of ours after all: leave it
		}
		ok, err := live(id)
		return !ok, err
	}
	var deleted []string
	var errs []error
	zero := int64(0)
	pods, err := p.core.Pods(p.namespace).List(ctx, sel)
	if err != nil {
		return nil, fmt.Errorf("kubernetes sweep: list pods: %w", err)
	}
	for _, pod := range pods.Items {
		if o, err := orphan(pod.Annotations); err != nil || !o {
			errs = append(errs, err)
			continue
		}
		err := p.core.Pods(p.namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
			continue
		}
		deleted = append(deleted, "pod/"+pod.Name)
	}
	if p.netpol != nil {
		pols, err := p.netpol.NetworkPolicies(p.namespace).List(ctx, sel)
		if err != nil {
			errs = append(errs, fmt.Errorf("kubernetes sweep: list network policies: %w", err))
		} else {
			for _, pol := range pols.Items {
				if o, err := orphan(pol.Annotations); err != nil || !o {
					errs = append(errs, err)
					continue
				}
				err := p.netpol.NetworkPolicies(p.namespace).Delete(ctx, pol.Name, metav1.DeleteOptions{})
				if err != nil && !apierrors.IsNotFound(err) {
					errs = append(errs, err)
					continue
				}
				deleted = append(deleted, "networkpolicy/"+pol.Name)
			}
		}
	}
	if p.claims != nil {
		list, err := p.claims.dyn.Resource(claimGVR).Namespace(p.namespace).List(ctx, sel)
		if err != nil {
			errs = append(errs, fmt.Errorf("kubernetes sweep: list sandbox claims: %w", err))
		} else {
			for _, c := range list.Items {
				if o, err := orphan(c.GetAnnotations()); err != nil || !o {
					errs = append(errs, err)
					continue
				}
				if err := p.deleteClaim(ctx, handle{Namespace: p.namespace, Claim: c.GetName()}); err != nil {
					errs = append(errs, err)
					continue
				}
				deleted = append(deleted, "sandboxclaim/"+c.GetName())
			}
		}
	}
	return deleted, errors.Join(errs...)
}
