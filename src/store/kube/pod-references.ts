/**
 * Which Services' EndpointSlices name each Pod (an endpoint's `targetRef`), so that new labels on a Pod
 * recompute the endpoints of those Services only. Slices and Pods are keyed `namespace/name`.
 */
export class PodReferences {
  private readonly podsOfSlice = new Map<string, readonly string[]>();
  /** Per Pod: the slices that name it, and the Service of each. */
  private readonly slicesOfPod = new Map<string, Map<string, string>>();

  /** The slice `slice` of `service` names `pods` now (instead of what it named before). */
  record(slice: string, service: string, pods: readonly string[]): void {
    this.forget(slice);
    if (pods.length === 0) return;
    this.podsOfSlice.set(slice, pods);
    for (const pod of pods) {
      const slices = this.slicesOfPod.get(pod) ?? new Map<string, string>();
      slices.set(slice, service);
      this.slicesOfPod.set(pod, slices);
    }
  }

  /** The slice is gone, or serves no Service any more. */
  forget(slice: string): void {
    for (const pod of this.podsOfSlice.get(slice) ?? []) {
      const slices = this.slicesOfPod.get(pod);
      slices?.delete(slice);
      if (slices?.size === 0) this.slicesOfPod.delete(pod);
    }
    this.podsOfSlice.delete(slice);
  }

  /** The Services (`namespace/name`) whose slices name `pod`. */
  servicesOf(pod: string): Set<string> {
    return new Set(this.slicesOfPod.get(pod)?.values());
  }
}
