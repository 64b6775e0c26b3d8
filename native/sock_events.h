// TCP connect events from the kernel (BPF on inet_sock_set_state, program in
// native/bpf/sock_events.bpf.c, raw tracepoint), delivered to JS in batches of fixed 64-byte records
// (native/bpf/sock_events.h) through a Napi::TypedThreadSafeFunction from one poll thread.
// Built only when libbpf headers exist (PIDFLOW_HAVE_LIBBPF); otherwise opening throws.
#ifndef PIDFLOW_SOCK_EVENTS_CC_H_
#define PIDFLOW_SOCK_EVENTS_CC_H_

#include <napi.h>

namespace pidflow {

/** openSocketEvents({batchRecords, batchIntervalMs, queueLimit}, onBatch) -> {stop, stats}. */
Napi::Value OpenSocketEvents(const Napi::CallbackInfo& info);

/** true when the addon was built with libbpf (the feature can work). */
bool SocketEventsBuilt();

}  // namespace pidflow

#endif
