// Socket owners from the kernel: a BPF task_file iterator (bpf/socket_owners.bpf.c) lists every
// socket held in an fd table with its process, in one read() instead of a /proc/<pid>/fd walk.
#ifndef PIDFLOW_SOCKET_OWNERS_H_
#define PIDFLOW_SOCKET_OWNERS_H_

#include <napi.h>

namespace pidflow {

/** socketOwnersOpen() -> handle (number): loads and attaches the iterator; throws with a code. */
Napi::Value SocketOwnersOpen(const Napi::CallbackInfo& info);

/**
 * socketOwnersRead(handle, maxRecords) -> Promise<{records: Buffer, truncated: boolean}>:
 * one pass of the iterator on a worker thread; records of PIDFLOW_SOCKET_OWNER_SIZE bytes
 * without the header record.
 */
Napi::Value SocketOwnersRead(const Napi::CallbackInfo& info);

/** socketOwnersClose(handle). */
Napi::Value SocketOwnersClose(const Napi::CallbackInfo& info);

/** Whether the addon was built with libbpf (the iterator can exist at all). */
bool SocketOwnersBuilt();

}  // namespace pidflow

#endif
