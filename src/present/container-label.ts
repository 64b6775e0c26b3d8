// The short label of a container shown in text output and the terminal UI: the Kubernetes
// pod path, else the name its owner gave, else the short id. Raw data: callers escape it for
// their output like any other name.

import type { ContainerInfo } from '../monitor/types.js';

/** Characters of a container id shown when no name is known (docker ps shows 12). */
export const SHORT_ID_CHARS = 12;

/**
 * `namespace/pod/container` for a Kubernetes container (parts not known are left out), else
 * the container's name, else the first 12 hex digits of its id; '' for no container.
 * @example containerLabel(info, id) // 'kube-system/coredns-76f75df574-w4b72/coredns'
 */
export function containerLabel(info: ContainerInfo | undefined, id: string | null): string {
  if (info !== undefined) {
    const pod = info.pod;
    if (pod !== null && pod.name !== '') {
      return [pod.namespace, pod.name, pod.container].filter((part) => part !== '').join('/');
    }
    if (info.name !== '') return info.name;
  }
  return id === null ? '' : id.slice(0, SHORT_ID_CHARS);
}

/** Every name of a container in one lower-case string, for the TUI's filter. */
export function containerSearchText(info: ContainerInfo | undefined, id: string | null): string {
  if (info === undefined) return (id ?? '').toLowerCase();
  const pod = info.pod;
  return [
    info.id,
    info.runtime,
    info.name,
    info.image,
    info.composeProject,
    info.composeService,
    pod?.namespace ?? '',
    pod?.name ?? '',
    pod?.container ?? '',
  ]
    .filter((part) => part !== '')
    .join(' ')
    .toLowerCase();
}
